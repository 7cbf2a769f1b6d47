"""Archive stage: after each issue, the web archive (index.html), the Atom feed and each
issue's web version, written into the outbox from the state and the issue folders.

Takes the config, the state and the outbox; gives files. Never imports the pipeline.
"""
