"""The use cases: one function each, owning its order of steps and every state write."""
