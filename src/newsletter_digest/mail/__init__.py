"""Mail stage: RFC 5322 messages. Header lines are made in one place (headers.py) with
the email package's encoders; the issue is serialised once and each reader's own header
lines are stamped in front of the shared body bytes.

Takes a ``RenderedIssue`` and addresses; gives message bytes.
"""
