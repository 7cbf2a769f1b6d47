"""The use case of ``digest init [DIR]``: start a project: digest.yaml, two sample
excerpts, a templates README.

The digest.yaml comes from the settings model (config/sample.py): every key with its
default and description, the optional ones commented out. An existing project is never
touched: if any file init would write is there already, nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter_digest.config.loading import DEFAULT_FILENAME
from newsletter_digest.config.sample import sample
from newsletter_digest.errors import DigestError
from newsletter_digest.files import atomic_write
from newsletter_digest.render.renderer import PACKAGE_TEMPLATES


class ProjectError(DigestError):
    """A project cannot be started here (one is there already, or the folder is not ours)."""


EXCERPTS = {
    "welcome-to-your-digest.md": """\
---
title: Welcome to your digest
url: https://example.org/welcome
author: The editor
tags: [start]
---
Each file in `content/` is one **excerpt**: a title and a few lines of Markdown, with
optional front matter (`url`, `author`, `source`, `tags`). Every issue picks a few of
them, and the rotation makes sure each one comes round before any comes back.
""",
    "try-before-you-send.md": """\
---
title: Try it before you send it
url: https://example.org/try
author: The editor
tags: [start]
---
`digest preview` shows the next issue in a browser and follows every save;
`digest send --test you@example.org` mails it to you alone, with `[test]` in front of the
subject, and records nothing. When it looks right, `digest build` makes the issue.
""",
}
GITIGNORE = """\
# The state (history, readers, the key that signs their links) and the issues made from it.
.digest/
outbox/
"""


def templates_readme() -> str:
    """How to override a template, naming the ones that ship with this version and where
    they are (a shell may have no `python` of the install: pipx, uv tool, Debian)."""
    shipped = sorted(
        path.relative_to(PACKAGE_TEMPLATES).as_posix() for path in PACKAGE_TEMPLATES.rglob("*.j2")
    )
    listing = "\n".join(f"- `{name}`" for name in shipped)
    return f"""\
# Templates

This folder holds your changes to the design. It is empty at first: the templates that
ship with newsletter-digest are used. To change one, copy it here under the same name
(keeping `partials/` for the partials) and edit it; a file here wins over the shipped one,
file by file. The shipped ones are in the installed package, which `digest init` found
here (after an upgrade, look for `newsletter_digest/templates/` in the new install):

    {PACKAGE_TEMPLATES}/

{listing}

`digest preview` shows the next issue and updates on every save; `digest check` names the
file and line of a template error. What templates see (variables and filters) is in the
documentation's Templates page (docs/templates.md).
"""


@dataclass(frozen=True)
class Started:
    """What init wrote, in the order it wrote it."""

    folder: Path
    written: tuple[Path, ...]


def planned(folder: Path) -> dict[Path, str]:
    """Every file init writes and its text (a .gitignore only where there is none)."""
    settings = sample(
        {"per_issue": len(EXCERPTS)}, "your newsletter's settings, made by `digest init`"
    )
    files = {
        folder / DEFAULT_FILENAME: settings,
        folder / "templates" / "README.md": templates_readme(),
    }
    files |= {folder / "content" / name: text for name, text in EXCERPTS.items()}
    if not (folder / ".gitignore").exists():
        files[folder / ".gitignore"] = GITIGNORE
    return files


def init(folder: Path) -> Started:
    """Start a project in ``folder`` (made if missing); refuse if one is there already."""
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder} is a file, not a folder", "give a folder for the project")
    taken = [
        name for name in (DEFAULT_FILENAME, "content", "templates") if (folder / name).exists()
    ]
    if taken:
        raise ProjectError(
            f"{folder} holds a project already ({', '.join(taken)}); nothing was written",
            "run 'digest init' with an empty or new folder, e.g. 'digest init my-newsletter'",
        )
    files = planned(folder)
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, text.encode())
    except OSError as e:
        raise ProjectError(
            f"cannot write the project into {folder}: {e.strerror or e}",
            "choose a folder you can write to",
        ) from e
    return Started(folder, tuple(files))
