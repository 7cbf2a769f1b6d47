"""Inbox driver: what comes back. Reads a Maildir or mbox that the user's mail server fills,
classifies each message (bounce, complaint, unsubscribe request, other; classify.py is
pure) and acts on the reader book only on evidence that points at a delivery we made.

Takes the config and a mailbox; gives reader status changes and a log of what it did.
"""
