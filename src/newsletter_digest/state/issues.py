"""Issues, their picks and their rendered bodies: the rotation's memory."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from newsletter_digest.models import IssueRecord, Pick, RenderedIssue
from newsletter_digest.state.dialect import Prepared
from newsletter_digest.state.tables import issue_bodies, issues, picks

# Compiled once: every build reads them (through Core, each cost more than the query).
_HISTORY = Prepared(
    select(picks.c.issue_number, picks.c.excerpt_id, picks.c.cycle, picks.c.section).order_by(
        picks.c.issue_number, picks.c.position
    )
)
_LAST_NUMBER = Prepared(select(func.coalesce(func.max(issues.c.number), 0)))


def history(conn: Connection) -> list[tuple[Pick, ...]]:
    """Every issue's picks, oldest issue first, each in display order."""
    rows = _HISTORY.run(conn, {})
    grouped: dict[int, list[Pick]] = {}
    for number, excerpt_id, cycle, section in rows:
        grouped.setdefault(number, []).append(Pick(excerpt_id, cycle, section))
    return [tuple(picked) for _, picked in sorted(grouped.items())]


def last_number(conn: Connection) -> int:
    """The highest issue number recorded, 0 when there is none."""
    return int(_LAST_NUMBER.run(conn, {})[0][0])


def record(conn: Connection, issue: IssueRecord) -> None:
    """Insert an issue and its picks."""
    conn.execute(
        issues.insert().values(
            number=issue.number,
            issue_date=issue.date.isoformat(),
            created_at=issue.created_at,
            subject=issue.subject,
            message_id=issue.message_id,
            folder=issue.folder,
        )
    )
    rows = [
        {
            "issue_number": issue.number,
            "position": position,
            "excerpt_id": pick.excerpt_id,
            "cycle": pick.cycle,
            "title": title,
            "section": pick.section,
        }
        for position, (pick, title) in enumerate(zip(issue.picks, issue.titles, strict=True))
    ]
    if rows:
        conn.execute(picks.insert(), rows)


def recorded(conn: Connection, number: int | None = None) -> list[IssueRecord]:
    """Recorded issues, oldest first (or just issue ``number``), with their picks."""
    i, p = issues.c, picks.c
    query = select(
        i.number, i.issue_date, i.created_at, i.subject, i.message_id, i.folder
    ).order_by(i.number)
    pick_query = select(p.issue_number, p.excerpt_id, p.cycle, p.title, p.section).order_by(
        p.issue_number, p.position
    )
    if number is not None:
        query = query.where(i.number == number)
        pick_query = pick_query.where(p.issue_number == number)
    grouped: dict[int, list[Any]] = {}
    for row in conn.execute(pick_query):
        grouped.setdefault(row.issue_number, []).append(row)
    return [
        IssueRecord(
            number=row.number,
            date=date.fromisoformat(row.issue_date),
            created_at=row.created_at,
            subject=row.subject,
            message_id=row.message_id,
            folder=row.folder,
            picks=tuple(
                Pick(p.excerpt_id, p.cycle, p.section) for p in grouped.get(row.number, [])
            ),
            titles=tuple(p.title for p in grouped.get(row.number, [])),
        )
        for row in conn.execute(query)
    ]


def record_bodies(conn: Connection, number: int, rendered: RenderedIssue) -> None:
    """Keep the rendered issue (with personal-field markers) for sending it later."""
    conn.execute(
        issue_bodies.insert().values(
            issue_number=number,
            subject=rendered.subject,
            preheader=rendered.preheader,
            html=rendered.html,
            text=rendered.text,
        )
    )


def bodies(conn: Connection, number: int) -> RenderedIssue | None:
    """The rendered issue kept by :func:`record_bodies`, if any."""
    b = issue_bodies.c
    row = conn.execute(
        select(b.subject, b.preheader, b.html, b.text).where(b.issue_number == number)
    ).first()
    if row is None:
        return None
    subject, preheader, html, text = (str(value) for value in row)
    return RenderedIssue(subject=subject, preheader=preheader, html=html, text=text)
