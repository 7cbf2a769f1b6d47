"""Delivery stage: where an issue goes. The outbox folder (atomic issue folders), and
transports behind one small protocol (SMTP relay, pickup folder) driven by the send loop,
which keeps a delivery log in the state.

Takes rendered messages and readers; gives delivery outcomes recorded in the state.
"""
