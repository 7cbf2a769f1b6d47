"""Make the next issue (``digest build``, and the scheduler at a slot): refresh the sources,
then load, rotate, render, compose, write and record the issue, bring the web archive up to
date, and send it where the config delivers.

``plan_next`` is shared by ``build``, ``build --dry-run``, the test send and the preview,
which is why the preview shows exactly the issue that the next build makes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from newsletter_digest.app.sending import Progress, SendReport, delivers, send_issue
from newsletter_digest.app.sources import SourcesRefreshed, refresh_sources
from newsletter_digest.archive import pages as archive
from newsletter_digest.config.loading import Config
from newsletter_digest.content.cache import ContentCache
from newsletter_digest.content.loading import load_content
from newsletter_digest.content.sources import with_source_tags
from newsletter_digest.delivery import outbox as deliver
from newsletter_digest.errors import DigestError, OutboxError, SlotTakenError
from newsletter_digest.files import private_folder
from newsletter_digest.mail import compose, dkim
from newsletter_digest.models import (
    IssueInfo,
    IssueRecord,
    Problem,
    RenderedIssue,
    Selection,
    Slot,
    folder_name,
)
from newsletter_digest.render.personal import personalize, unsubscribe_links
from newsletter_digest.render.renderer import Branding, Renderer, size_warning, template_cache_dir
from newsletter_digest.rotation import cycles as rotation
from newsletter_digest.rotation.sections import forecast_sections, specs_of
from newsletter_digest.state.store import State, open_state


@dataclass(frozen=True)
class Plan:
    """The next issue, fully rendered, before anything is written."""

    info: IssueInfo
    selection: Selection
    rendered: RenderedIssue
    problems: tuple[Problem, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        """The rotation's warnings, and the HTML size against Gmail's clipping limit."""
        size = size_warning(self.rendered)
        return (*self.selection.warnings, *([size] if size else []))

    @property
    def folder_name(self) -> str:
        """Where in the outbox the issue goes."""
        return folder_name(self.info.number)


@dataclass(frozen=True)
class BuildResult:
    """What ``build`` did: the issue it made (or recovered) and what it warned about."""

    record: IssueRecord
    folder: Path
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    recovered: tuple[IssueRecord, ...] = ()
    # False when recovered issues may have gone out already (the state lost track of them).
    sendable: bool = True


def content_cache_path(config: Config) -> Path:
    """The parsed-content cache lives beside the state database."""
    return config.settings.state.parent / "content-cache.json"


def make_renderer(config: Config, *, cache: bool = False, save_cache: bool = True) -> Renderer:
    """One renderer (one Jinja2 environment, compiled templates) for the whole run.

    ``cache`` uses the compiled templates and rendered bodies kept beside the state;
    ``save_cache=False`` reads them without adding any (the dry run changes nothing).
    """
    s = config.settings
    branding = Branding(
        title=s.title,
        sender=s.sender,
        unsubscribe=next(iter(unsubscribe_links(s.unsubscribe, s.base_url)), None),
        footer=s.footer,
        subject=s.subject,
        preheader=s.preheader,
        base_url=s.base_url,
        language=s.language,
    )
    cache_dir = template_cache_dir(s.state) if cache else None
    if cache_dir is not None and save_cache:
        # The state's folder is private (0700) whoever creates it first; if it cannot be
        # made there is no cache, and opening the state says why.
        with contextlib.suppress(OSError):
            private_folder(s.state.parent)
    return Renderer(s.templates, branding, cache_dir, save_cache=save_cache)


def plan_next(
    config: Config,
    state: State,
    today: date,
    renderer: Renderer | None = None,
    *,
    use_cache: bool = True,
    save_cache: bool = True,
    skip: int = 0,
) -> Plan:
    """Pick and render the issue that comes next after what ``state`` recorded.

    ``use_cache`` reads excerpts from the content cache, ``save_cache`` updates it.
    ``skip`` looks further ahead: 1 is the issue after next, as if the next one were made.
    """
    s = config.settings
    cache = ContentCache(content_cache_path(config), save=save_cache) if use_cache else None
    loaded = load_content(s.content, cache)
    excerpts = with_source_tags(loaded.excerpts, s.sources, config.base_dir)
    # Issues an interrupted build left unrecorded count as made: the next build records them.
    pending = unrecorded(config, state)
    history = state.history() + [record.picks for record in pending]
    if s.sections:
        dates = [record.date for record in (*state.issues(), *pending)]
        last = dates[-1] if dates else None
        ahead = forecast_sections(
            excerpts, history, specs_of(s.sections), s.seed, last, skip + 1, today, dates
        )
    else:
        ahead = rotation.forecast(excerpts, history, s.per_issue, s.seed, skip + 1)
    selection = ahead[-1]
    number = max(state.last_number(), *deliver.issue_numbers(s.outbox), 0) + 1 + skip
    info = IssueInfo(number=number, date=today)
    rendered = (renderer or make_renderer(config)).render(
        info, selection.excerpts, selection.sections
    )
    return Plan(info=info, selection=selection, rendered=rendered, problems=loaded.problems)


def outbox_recipient(config: Config) -> str | None:
    """Whose personal fields the outbox copy carries: the only recipient, or nobody's."""
    first = config.first_recipients(2)
    return first[0] if len(first) == 1 else None


def outbox_message(
    config: Config, rendered: RenderedIssue, message_id: str, now: datetime
) -> bytes:
    """The outbox copy of the issue as a complete message.

    To its sole reader, if it has one; otherwise to "undisclosed-recipients" (or, with no
    readers at all, to the sender), so a list of readers is never shown.
    """
    s = config.settings
    first = config.first_recipients(2)
    sole = first[0] if len(first) == 1 else None
    to = sole or (compose.UNDISCLOSED if first else s.sender)
    factory = compose.MessageFactory(
        rendered,
        sender=s.sender,
        date=now,
        unsubscribe=unsubscribe_links(s.unsubscribe, s.base_url),
        list_name=compose.list_id(s.title, s.sender),
        feedback_id=s.feedback_id,
    )
    data = factory.message(sole, message_id, to=to)
    if s.dkim is None:
        return data
    return dkim.sign(data, dkim.load_key(s.dkim.domain, s.dkim.selector, s.dkim.key_file))


def unrecorded(config: Config, state: State) -> list[IssueRecord]:
    """Issues in the outbox that the state does not know yet (read-only; see recover)."""
    orphans = deliver.orphans(config.settings.outbox, state.last_number())
    return [orphan.record for orphan in orphans if orphan.record is not None]


def recover(config: Config, state: State) -> tuple[list[IssueRecord], bool]:
    """Record issues an interrupted build wrote but never recorded; caller holds the lock.

    Also says whether that was a plain crash: one unrecorded issue right after the recorded
    ones. Anything else (an empty or replaced state, several folders) means the state lost
    track of issues that may have been sent, so they are recorded but not to be sent again.
    """
    outbox = config.settings.outbox
    deliver.remove_stale_temp(outbox)
    known = state.last_number()
    recovered = []
    for orphan in deliver.orphans(outbox, state.last_number()):
        if orphan.record is None or orphan.record.number != state.last_number() + 1:
            raise OutboxError(
                f"{orphan.folder} is in the outbox but not in the state, and has no readable "
                f"{deliver.MANIFEST}",
                "move the folder out of the outbox (it was never recorded or sent), "
                "then build again",
            )
        state.record_issue(orphan.record)
        recovered.append(orphan.record)
    return recovered, len(recovered) == 1 and known > 0


def build(
    config: Config, now: datetime, *, use_cache: bool = True, slot: Slot | None = None
) -> BuildResult:
    """Make the next issue (see :func:`make_issue`), then bring the web archive up to date."""
    result = make_issue(config, now, use_cache=use_cache, slot=slot)
    result = publish_archive(config, result)
    return result


def publish_archive(config: Config, result: BuildResult) -> BuildResult:
    """Rebuild the web archive once the issue is recorded; a failure is only a warning.

    The issue is made either way, so a broken archive template never keeps it from being
    sent; ``digest archive`` tries again once the problem is fixed.
    """
    made = {result.record.number, *(record.number for record in result.recovered)}
    try:
        rebuilt = archive.rebuild_archive(config, made)
    except DigestError as e:
        warning = f"the web archive was not updated: {e.message}"
        hint = f"{e.hint}; then run 'digest archive'" if e.hint else "then run 'digest archive'"
        return dataclasses.replace(result, warnings=(*result.warnings, f"{warning} (hint: {hint})"))
    except Exception as e:
        # Deliberately broad: the issue is recorded already, and the CLI and the runner send
        # it only once this returns, so an archive failure of any kind (even a bug here) must
        # not stop it from going out. 'digest -v archive' shows the traceback.
        warning = f"the web archive was not updated: {type(e).__name__}: {e}"
        hint = "run 'digest -v archive' to see what failed"
        return dataclasses.replace(result, warnings=(*result.warnings, f"{warning} (hint: {hint})"))
    moved = archive.retired_warning(config, rebuilt)
    return dataclasses.replace(result, warnings=(*result.warnings, moved)) if moved else result


def make_issue(
    config: Config, now: datetime, *, use_cache: bool = True, slot: Slot | None = None
) -> BuildResult:
    """Make the next issue: plan it, write its files, then record it, all under one lock.

    A build that was killed after writing but before recording is completed instead: its
    issue is recorded from the manifest and returned, and no second issue is made.
    With a ``slot``, the slot is recorded in the same transaction as its issue; a slot that
    is already recorded (or older than the latest recorded one) raises SlotTakenError.
    """
    s = config.settings
    renderer = make_renderer(config, cache=True)
    stamp = now.isoformat(timespec="seconds")
    with open_state(s.state) as state, state.write_lock():
        if slot is not None:
            _check_slot_free(state, slot)
        recovered, crash_only = recover(config, state)
        if recovered:
            latest = recovered[-1]
            if slot is not None:
                state.record_slot(slot, latest.number, stamp)
            return BuildResult(
                record=latest,
                folder=s.outbox / latest.folder,
                recovered=tuple(recovered),
                sendable=crash_only,
            )
        plan = plan_next(config, state, now.date(), renderer, use_cache=use_cache)
        copy = personalize(plan.rendered, outbox_recipient(config))
        message_id = compose.new_message_id(config.settings.sender, plan.info.number)
        eml = outbox_message(config, copy, message_id, now)
        record = IssueRecord(
            number=plan.info.number,
            date=plan.info.date,
            created_at=now.isoformat(timespec="seconds"),
            subject=plan.rendered.subject,
            message_id=message_id,
            folder=plan.folder_name,
            picks=plan.selection.picks,
            titles=tuple(e.title for e in plan.selection.excerpts),
        )
        files = deliver.issue_files(
            plan.info.number,
            html=copy.html.encode(),
            text=copy.text.encode(),
            eml=eml,
        )
        files[deliver.MANIFEST] = deliver.manifest(record)
        files[archive.EXCERPTS_FILE] = archive.excerpts_file(plan.selection.excerpts)
        folder = deliver.write_issue(s.outbox, plan.info.number, files)
        state.record_issue(record)
        state.record_bodies(record.number, plan.rendered)
        if slot is not None:
            state.record_slot(slot, record.number, stamp)
    return BuildResult(
        record=record,
        folder=folder,
        problems=plan.problems,
        warnings=plan.warnings,
    )


def _check_slot_free(state: State, slot: Slot) -> None:
    """Refuse a slot that is recorded already, or older than the latest recorded slot."""
    last = state.last_slot()
    if last is None or last.slot.at < slot.at:
        return
    what = f"issue #{last.issue_number}" if last.issue_number is not None else "no issue (skipped)"
    if last.slot.at == slot.at:
        message = f"slot {slot.at.isoformat()} is taken: it has {what}"
    else:
        message = f"slot {slot.at.isoformat()} is older than slot {last.slot.at.isoformat()}"
    raise SlotTakenError(message, "nothing to do: each slot gets at most one issue")


@dataclass(frozen=True)
class DryRun:
    """What the next build would make: the new issue's plan, and the unrecorded issues it
    records first (an interrupted build wrote them)."""

    plan: Plan
    pending: tuple[IssueRecord, ...]


def dry_run(config: Config, today: date) -> DryRun:
    """The next new issue's plan, and the unrecorded issues the next build records first.

    Touches neither the outbox, the state nor the caches (it reads them: each is keyed by
    everything its results depend on, so the plan is the same as without them).
    """
    renderer = make_renderer(config, cache=True, save_cache=False)
    with open_state(config.settings.state, readonly=True) as state:
        pending = unrecorded(config, state)
        plan = plan_next(config, state, today, renderer, save_cache=False)
        return DryRun(plan, tuple(pending))


class IssueEvents(Protocol):
    """What an adapter shows while an issue is made and sent (each says nothing unless the
    adapter says otherwise)."""

    def refreshed(self, sources: SourcesRefreshed) -> None:
        """The sources were refreshed; the issue is made next."""
        return None

    def made(self, made: IssueMade) -> None:
        """The issue is made (or recovered) and recorded; it is sent next, if it goes out."""
        return None

    def progress(self, done: int, total: int) -> None:
        """``done`` of the ``total`` recipients sent or settled."""
        return None


class _Quiet(IssueEvents):
    """Shows nothing."""


@dataclass(frozen=True)
class IssueMade:
    """What making the next issue did: the sources refreshed, the issue made or recovered,
    and whether it goes out now (the config delivers, and it cannot have gone out before)."""

    sources: SourcesRefreshed
    build: BuildResult
    delivers: bool

    @property
    def goes_out(self) -> bool:
        """Sent right after it is made: the config delivers, and if it came back from the
        outbox it was a plain crash (it cannot have been sent before)."""
        return self.delivers and self.build.sendable


@dataclass(frozen=True)
class Published:
    """``digest build``: the issue made, and how sending it went (None: not sent now)."""

    made: IssueMade
    report: SendReport | None


def make_next_issue(
    config: Config,
    now: datetime,
    *,
    slot: Slot | None = None,
    events: IssueEvents | None = None,
) -> IssueMade:
    """Refresh the sources (a failing one is only reported), make the next issue (for
    ``slot``, if given) and bring the web archive up to date."""
    sources = refresh_sources(config)
    if events is not None:
        events.refreshed(sources)
    built = build(config, now, slot=slot)
    return IssueMade(sources=sources, build=built, delivers=delivers(config))


def publish_next_issue(
    config: Config, now: datetime, *, send: bool = True, events: IssueEvents | None = None
) -> Published:
    """``digest build``: make the next issue (see :func:`make_next_issue`), then send it
    where the config delivers, unless ``send`` is False."""
    events = events or _Quiet()
    made = make_next_issue(config, now, events=events)
    events.made(made)
    if not (send and made.goes_out):
        return Published(made=made, report=None)
    progress: Progress = events.progress
    report = send_issue(config, made.build.record.number, progress=progress)
    return Published(made=made, report=report)
