"""Defaults that code outside the settings model needs too, defined here once (no pydantic,
so importing one costs nothing)."""

# The subject line when digest.yaml gives none: the ``subject`` key's default, and the
# renderer's when it is made without settings.
DEFAULT_SUBJECT = "{{ title }} #{{ issue.number }}: {{ excerpts[0].title }}"
