"""Content stage: excerpt files (front matter + Markdown body) into ``Excerpt`` records,
and importers that turn other formats (plain-text teasers) into such files.

Takes the content folder; gives excerpts plus the problems of files it skipped.
"""
