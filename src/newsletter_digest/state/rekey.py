"""A migration in Python: readers' mailbox keys computed anew when the way two addresses
are compared changes (SQL alone cannot compute them: the key is :func:`mailbox_key`)."""

from __future__ import annotations

import sqlite3

from newsletter_digest.addresses import mailbox_key

# A reader who shares a mailbox with another after a re-keying: what they are told.
_SAME_MAILBOX = "the same mailbox as reader #{} (merged on upgrade)"


def rekey_readers(conn: sqlite3.Connection) -> None:
    """Readers' and deliveries' mailbox keys computed anew (:func:`mailbox_key`): no more
    Unicode case folding, the domain in IDNA form.

    Readers whose old keys were one stay apart now (each keeps its row and status). Readers
    whose new keys are one (a domain written in Unicode and in ``xn--`` form) are one
    mailbox: the first refusing row, else the oldest, takes the key; the others keep their
    rows under a key no address has, and take on a refusal (nobody gets mail they refused).
    """
    conn.create_function("mailbox_key", 1, mailbox_key, deterministic=True)
    conn.execute("CREATE TEMP TABLE rekey (id INTEGER PRIMARY KEY, key TEXT NOT NULL)")
    conn.execute("INSERT INTO rekey SELECT id, mailbox_key(address) FROM readers")
    conn.execute("CREATE INDEX temp.rekey_key ON rekey(key)")
    for (key,) in conn.execute("SELECT key FROM rekey GROUP BY key HAVING COUNT(*) > 1").fetchall():
        rows = conn.execute(
            "SELECT id, status FROM readers WHERE id IN (SELECT id FROM rekey WHERE key = ?)"
            " ORDER BY status NOT IN ('unsubscribed', 'bounced', 'complained'), id",
            (key,),
        ).fetchall()
        keeper, status = rows[0]
        for other, _ in rows[1:]:
            conn.execute("UPDATE rekey SET key = '#' || id WHERE id = ?", (other,))
            if status in ("unsubscribed", "bounced", "complained"):
                conn.execute(
                    "UPDATE readers SET status = ?, reason = ? WHERE id = ?"
                    " AND status NOT IN ('unsubscribed', 'bounced', 'complained')",
                    (status, _SAME_MAILBOX.format(keeper), other),
                )
    # Free every key that changes first, so no row meets another's old key on the way.
    for sql in (
        "UPDATE readers SET key = '#' || id"
        " WHERE key != (SELECT key FROM rekey WHERE rekey.id = readers.id)",
        "UPDATE readers SET key = (SELECT key FROM rekey WHERE rekey.id = readers.id)"
        " WHERE key = '#' || id",
        "DROP TABLE rekey",
        "UPDATE OR IGNORE deliveries SET address = mailbox_key(recipient)",
    ):
        conn.execute(sql)
