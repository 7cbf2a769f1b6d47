"""Delivery stage: where an issue goes. The outbox folder (atomic issue folders), and
transports behind one small protocol (SMTP relay, pickup folder) driven by the send loop,
which gives each outcome to the delivery log its caller (the send use case) passes in.

Takes a rendered issue and its deliveries; gives each delivery's outcome as it comes back.
"""
