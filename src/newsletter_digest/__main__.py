"""Allow ``python -m newsletter_digest``."""

from newsletter_digest.cli import main

if __name__ == "__main__":
    main()
