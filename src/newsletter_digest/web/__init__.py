"""The web adapter: one Starlette app on uvicorn in two modes, the local preview (the next
issue as it will go out, live) and the public server (``digest serve``).

Parses requests, calls the use cases of :mod:`newsletter_digest.app`, presents their results;
never imports the state.
"""
