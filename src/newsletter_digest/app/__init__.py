"""The use cases: each owns its order of steps and every state write, and returns a typed result."""
