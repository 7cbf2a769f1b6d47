"""The use cases: each owns its order of steps and every state write, and returns a typed,
frozen result. The adapters (cli, the schedule runner, web) parse input, call one of these
and present what it returns; they never touch the state themselves."""
