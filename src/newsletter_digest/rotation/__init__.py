"""Rotation stage (pure): which excerpts an issue takes. Cycles in which every excerpt
comes round (weight times) before any repeats, derived from the history alone.

Takes the pool, the history, the seed and the count; gives a ``Selection``.
"""
