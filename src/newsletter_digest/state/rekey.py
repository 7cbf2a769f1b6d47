"""A data migration: readers' mailbox keys computed anew when the way two addresses are
compared changes (SQL alone cannot compute them: the key is :func:`mailbox_key`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, bindparam, column, select, table, update

from newsletter_digest.addresses import mailbox_key

# A reader who shares a mailbox with another after a re-keying: what they are told.
_SAME_MAILBOX = "the same mailbox as reader #{} (merged on upgrade)"
_REFUSED = ("unsubscribed", "bounced", "complained")

# The tables as this migration found them (not state/tables.py, which may change later).
_readers = table("readers", column("id"), column("address"), column("key"), column("status"))
_readers_reason = table("readers", column("id"), column("status"), column("reason"))
_deliveries = table("deliveries", column("issue_number"), column("recipient"), column("address"))


def rekey_readers(conn: Connection) -> None:
    """Readers' and deliveries' mailbox keys computed anew (:func:`mailbox_key`): no more
    Unicode case folding, the domain in IDNA form.

    Readers whose old keys were one stay apart now (each keeps its row and status). Readers
    whose new keys are one (a domain written in Unicode and in ``xn--`` form) are one
    mailbox: the first refusing row, else the oldest, takes the key; the others keep their
    rows under a key no address has, and take on a refusal (nobody gets mail they refused).
    """
    rows = conn.execute(
        select(_readers.c.id, _readers.c.address, _readers.c.key, _readers.c.status)
    ).all()
    new = {row.id: mailbox_key(row.address) for row in rows}
    mailboxes: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        mailboxes[new[row.id]].append((row.id, row.status))
    refusals = []
    for same in mailboxes.values():
        same.sort(key=lambda r: (r[1] not in _REFUSED, r[0]))
        keeper, status = same[0]
        for other, other_status in same[1:]:
            new[other] = f"#{other}"
            if status in _REFUSED and other_status not in _REFUSED:
                reason = _SAME_MAILBOX.format(keeper)
                refusals.append({"b_id": other, "b_status": status, "b_reason": reason})
    if refusals:
        conn.execute(
            update(_readers_reason)
            .where(_readers_reason.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), reason=bindparam("b_reason")),
            refusals,
        )
    changed = [{"b_id": row.id, "b_key": new[row.id]} for row in rows if row.key != new[row.id]]
    # Free every key that changes first, so no row meets another's old key on the way.
    set_key = update(_readers).where(_readers.c.id == bindparam("b_id"))
    if changed:
        conn.execute(
            set_key.values(key=bindparam("b_free")),
            [{"b_id": c["b_id"], "b_free": f"#{c['b_id']}"} for c in changed],
        )
        conn.execute(set_key.values(key=bindparam("b_key")), changed)
    _rekey_deliveries(conn)


def _rekey_deliveries(conn: Connection) -> None:
    """Each delivery's mailbox anew, in the log's order; a row whose new mailbox another
    row of its issue holds already keeps its old one (as ``UPDATE OR IGNORE`` did)."""
    order: list[Any] = [column("rowid")] if conn.dialect.name == "sqlite" else []
    d = _deliveries.c
    rows = conn.execute(
        select(d.issue_number, d.recipient, d.address).order_by(*order, d.issue_number, d.recipient)
    ).all()
    taken = {(row.issue_number, row.address) for row in rows if row.address is not None}
    moves = []
    for row in rows:
        address = mailbox_key(row.recipient)
        if address == row.address or (row.issue_number, address) in taken:
            continue
        taken.discard((row.issue_number, row.address))
        taken.add((row.issue_number, address))
        moves.append({"b_n": row.issue_number, "b_r": row.recipient, "b_a": address})
    if moves:
        conn.execute(
            update(_deliveries)
            .where(d.issue_number == bindparam("b_n"), d.recipient == bindparam("b_r"))
            .values(address=bindparam("b_a")),
            moves,
        )
