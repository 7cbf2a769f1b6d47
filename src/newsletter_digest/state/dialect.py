"""What differs between the databases the state runs on, in one place: inserts that
skip or update a row whose key is taken, and the order rows were inserted in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, literal_column
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import Insert


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's own INSERT, which knows ON CONFLICT (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # imported only where it is used

        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table) -> Insert:
    """INSERT that skips a row whose unique key is taken (SQLite's ``INSERT OR IGNORE``)."""
    statement: Insert = _insert(conn, table).on_conflict_do_nothing()
    return statement


def upsert(
    conn: Connection, table: Table, keys: Sequence[Column[Any]], updates: dict[str, Any]
) -> Insert:
    """INSERT that, when the row's ``keys`` are taken, sets ``updates`` on it instead
    (each value an expression; ``excluded(conn, table)`` names the row proposed)."""
    statement: Insert = _insert(conn, table).on_conflict_do_update(
        index_elements=list(keys), set_=updates
    )
    return statement


def excluded(conn: Connection, table: Table) -> Any:
    """The columns of the row an upsert proposed (``excluded.*``)."""
    return _insert(conn, table).excluded


def insert_order(conn: Connection, table: Table) -> ColumnElement[Any]:
    """A column that orders rows as they were inserted: SQLite's rowid. Other databases
    order by the primary key until they have a column of their own (issue #28)."""
    if conn.dialect.name == "sqlite":
        return literal_column(f"{table.name}.rowid")
    first: ColumnElement[Any] = list(table.primary_key.columns)[-1]
    return first


def insert_many(
    conn: Connection, statement: Insert, keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Run an INSERT for many rows (values in ``keys`` order) as one driver executemany:
    the statement compiled once for the dialect, not its parameters processed row by row
    (for the batches an import or a send stages, that is most of the time)."""
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
    if compiled.positional:
        order = [list(keys).index(name) for name in compiled.positiontup or ()]
        same = order == list(range(len(keys)))
        params: list[Any] = list(rows) if same else [tuple(row[i] for i in order) for row in rows]
    else:
        params = [dict(zip(keys, row, strict=True)) for row in rows]
    conn.exec_driver_sql(str(compiled), params)
