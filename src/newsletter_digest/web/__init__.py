"""Web drivers: the local preview server (the next issue as it will go out, live), its
views, the file watcher and the message checks it shows.

Takes the config; calls the pipeline read-only; gives HTTP pages.
"""
