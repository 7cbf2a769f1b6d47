"""What differs between the databases the state runs on, in one place: inserts that
skip or update a row whose key is taken, and the order rows were inserted in; and
statements compiled once for the connection's dialect and run by its driver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    ClauseElement,
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Table,
    literal_column,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
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


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's own cursor: for
    the statements a send runs once per message, where SQLAlchemy's per-execution work (a
    transaction object, a result, parameter processing) costs several times the statement.

    Only for statements whose values need no type conversion (text and integers). Outside
    a transaction the statement is committed at once, as a Core call outside one is.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._by_dialect: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}

    def _compiled(self, dialect: Dialect) -> tuple[str, dict[str, Any], tuple[str, ...] | None]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = (str(compiled), dict(compiled.params), order)
            self._by_dialect[dialect.name] = found
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run with ``params`` (the statement's bind names); the rows it returns."""
        sql, defaults, order = self._compiled(conn.dialect)
        values = {**defaults, **params}
        driver_params: Any = tuple(values[n] for n in order) if order is not None else values
        driver = conn.connection.dbapi_connection
        assert driver is not None  # an open Connection holds its driver connection
        error = conn.dialect.loaded_dbapi.Error
        cursor = driver.cursor()
        try:
            cursor.execute(sql, driver_params)
            rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
            if not conn.in_transaction():
                driver.commit()
        except error as e:
            raise DBAPIError.instance(sql, driver_params, e, error) from e
        finally:
            cursor.close()
        return rows
