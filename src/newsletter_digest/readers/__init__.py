"""Readers stage: who gets the digest. The reader book in the state database (statuses,
sources, consent; suppression for good), signed tokens for one-click unsubscribe and
confirmation links, and CSV import/export in the formats other tools use.

Takes the state and addresses; gives the active readers and verified tokens.
"""
