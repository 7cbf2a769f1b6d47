"""Newsletter digest builder: rotating excerpts rendered with MJML into a real email."""

__version__ = "0.1.0"
