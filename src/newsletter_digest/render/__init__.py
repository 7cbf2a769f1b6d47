"""Render stage (pure): one issue's excerpts through Jinja2 into MJML, compiled by MRML
to responsive HTML, plus the plain-text part from the same data. Safe Markdown, CSS
inlining and personal-field markers live here; caches are a ``RenderCache`` object.

Takes excerpts and branding; gives a ``RenderedIssue`` (subject, preheader, html, text).
"""
