"""Show an issue without making it: the next one (or one further ahead) exactly as ``build``
would make it, or a past one from the outbox, for the preview.

Nothing here writes: the state is opened read-only, the content cache is not used, and the
next issue is the one ``build`` would make, composed into the same message bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from newsletter_digest.app import issues as pipeline
from newsletter_digest.config.loading import Config, load_config
from newsletter_digest.delivery import outbox as deliver
from newsletter_digest.errors import DigestError, PreviewError
from newsletter_digest.mail import compose, mailcheck
from newsletter_digest.models import folder_name
from newsletter_digest.render.personal import personalize
from newsletter_digest.report import issue_lines, rotation_line
from newsletter_digest.state.store import open_state

MAX_SKIP = 52
"""How far ahead ``/next?skip=K`` looks: a year of weekly issues."""


@dataclass(frozen=True, slots=True)
class View:
    """Which issue a page shows: ``next`` issue ``number`` issues ahead, or past ``issue``."""

    kind: Literal["next", "issue"]
    number: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One issue ready to show: its message parsed back, the checks, notes; or an error."""

    view: View
    label: str
    number: int | None = None
    parsed: mailcheck.Parsed | None = None
    checks: tuple[mailcheck.Check, ...] = ()
    excerpts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    title: str = ""
    next_number: int | None = None
    issues: tuple[int, ...] = ()
    eml: bytes = b""
    error: DigestError | None = None
    status: int = 200


def _label(view: View, number: int | None) -> str:
    """What the page calls the issue: "Next issue #3", "Issue after next #4", ..."""
    if view.kind == "issue":
        return f"Past issue #{view.number}"
    names = {0: "Next issue", 1: "Issue after next"}
    name = names.get(view.number, f"{view.number} issues after next")
    return f"{name} #{number}" if number is not None else name


def take(config_path: Path, view: View, now: datetime) -> Snapshot:
    """Load the config afresh and make the snapshot of ``view``; a user error becomes one."""
    try:
        config = load_config(config_path)
    except DigestError as e:
        return Snapshot(view=view, label=_label(view, None), error=e)
    issues = tuple(deliver.issue_numbers(config.settings.outbox))
    next_number = None
    try:
        next_number = _next_number(config, issues)
        if view.kind == "next":
            return _next(config, view, now, issues)
        return _past(config, view, issues, next_number)
    except DigestError as e:
        number = next_number + view.number if next_number and view.kind == "next" else None
        return Snapshot(
            view=view,
            label=_label(view, number),
            title=config.settings.title,
            next_number=next_number,
            issues=issues,
            error=e,
        )


def _next_number(config: Config, issues: tuple[int, ...]) -> int:
    """The number the next issue gets, as plan_next numbers it (for the page's links)."""
    with open_state(config.settings.state, readonly=True) as state:
        return max(state.last_number(), *issues, 0) + 1


def _next(config: Config, view: View, now: datetime, issues: tuple[int, ...]) -> Snapshot:
    """The issue ``view.number`` issues after the next, exactly as ``build`` would make it."""
    s = config.settings
    renderer = pipeline.make_renderer(config)  # new each time: templates may have changed
    with open_state(s.state, readonly=True) as state:
        plan = pipeline.plan_next(
            config, state, now.date(), renderer, use_cache=False, skip=view.number
        )
        pending = pipeline.unrecorded(config, state)
    copy = personalize(plan.rendered, pipeline.outbox_recipient(config))
    message_id = compose.new_message_id(s.sender, plan.info.number)
    eml = pipeline.outbox_message(config, copy, message_id, now)  # the outbox's very bytes
    parsed = mailcheck.parse(eml)
    notes = [
        f"issue #{record.number} is in the outbox but not yet recorded (an interrupted build "
        "wrote it): the next 'digest build' records it and makes no new issue; this one "
        "comes after it"
        for record in pending
    ]
    notes += [f"{problem} (skipped)" for problem in plan.problems]
    notes += list(plan.selection.warnings)
    notes.append(rotation_line(plan.selection))
    if view.number == 0:
        notes.append(f"'digest build' writes it to {s.outbox / plan.folder_name}/")
    return Snapshot(
        view=view,
        label=_label(view, plan.info.number),
        number=plan.info.number,
        parsed=parsed,
        checks=mailcheck.run_checks(parsed),
        excerpts=tuple(issue_lines(plan.selection)),
        notes=tuple(notes),
        title=s.title,
        next_number=plan.info.number - view.number,
        issues=issues,
        eml=eml,
    )


def read_inside(root: Path, path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file really inside ``root`` (symlinks resolved)."""
    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(root.resolve(strict=True)) or not real.is_file():
            return None
        return real.read_bytes()
    except (OSError, RuntimeError):
        return None


def _past(config: Config, view: View, issues: tuple[int, ...], next_number: int) -> Snapshot:
    """A past issue from the outbox: its .eml file as written, never re-rendered."""
    outbox = config.settings.outbox
    folder = outbox / folder_name(view.number)
    eml = read_inside(outbox, folder / f"{folder.name}.eml")
    if eml is None:
        listed = ", ".join(f"#{n}" for n in issues[-10:]) or "none yet"
        return Snapshot(
            view=view,
            label=_label(view, None),
            title=config.settings.title,
            next_number=next_number,
            issues=issues,
            error=PreviewError(
                f"issue #{view.number} is not in the outbox ({folder}/ has no readable .eml)",
                f"issues in the outbox: {listed}",
            ),
            status=404,
        )
    manifest = read_inside(outbox, folder / deliver.MANIFEST)
    record = deliver.read_manifest(folder) if manifest is not None else None
    parsed = mailcheck.parse(eml)
    notes = [f"from {folder}/"]
    if record is not None:
        notes.append(f"built {record.created_at}")
    return Snapshot(
        view=view,
        label=_label(view, view.number),
        number=view.number,
        parsed=parsed,
        checks=mailcheck.run_checks(parsed),
        excerpts=tuple(f"{n}. {t}" for n, t in enumerate(record.titles, 1)) if record else (),
        notes=tuple(notes),
        title=config.settings.title,
        next_number=next_number,
        issues=issues,
        eml=eml,
    )
