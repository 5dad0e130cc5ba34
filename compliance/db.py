"""Declarative base, column types and session helpers shared by every domain."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

# Named constraints: Alembic's batch mode on SQLite cannot drop an unnamed constraint.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER primary keys; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored time carries a zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            datetime: UTCDateTime(),
            dict[str, Any]: JSONType,
            list[Any]: JSONType,
            list[str]: JSONType,
            str: String(),
        },
    )


def sql_literal(value: str) -> str:
    """`value` as an SQL string literal (constraint text is DDL: no bound parameters)."""
    return "'" + value.replace("'", "''") + "'"


def one_of(column: str, values: Iterable[str], name: str | None = None) -> CheckConstraint:
    """A CHECK that `column` holds one of `values`, named ck_<table>_<column> by convention.

    Built from the same tuple the Python rules use, so the database refuses exactly what the
    code refuses. NULL passes (whether a column may be empty is its own NOT NULL's business).
    """
    listed = ", ".join(sql_literal(value) for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or column)


def check(condition: str, name: str) -> CheckConstraint:
    """A named CHECK for an invariant across columns (ck_<table>_<name> by convention)."""
    return CheckConstraint(condition, name=name)


IN_CHUNK = 2000  # values per IN (...) list: under SQLite's and PostgreSQL's parameter limits


def chunked(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """`values` in slices of `size`, for IN (...) queries over lists of any length."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def utcnow() -> datetime:
    """The current time, aware and in UTC (the only clock the models use)."""
    return datetime.now(UTC)


SQLITE_MMAP_BYTES = 1 << 30  # an upper bound: only the pages actually read are mapped in


def configure_engine(engine: Engine) -> None:
    """Per-connection settings that SQLite needs to behave like a real database."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions start, so SAVEPOINT works.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        # Read the database through a memory map shared by every connection and process: the
        # default private page cache (2 MB per connection) misses on most row lookups once the
        # database holds 100,000 cases, and each miss is a system call.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # A request that may write takes the write lock up front (IMMEDIATE), so concurrent
        # writers queue on busy_timeout instead of failing when their read snapshot is stale.
        # Reads stay deferred: in WAL mode they never block the writer.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _writing_request() else "BEGIN")


def _writing_request() -> bool:
    from flask import current_app, has_request_context, request

    if _writing_work.get():
        return True
    if not has_request_context():
        return False
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        return True
    # A GET that records the read (web.audited.audited_read) writes too, and its first query
    # (loading the signed-in user) comes before the view runs.
    marker = getattr(current_app.view_functions.get(request.endpoint), "audited_read", None)
    return bool(marker) and (marker is True or marker())


_writing_work: ContextVar[bool] = ContextVar("compliance_writing_work", default=False)


@contextmanager
def writing_work() -> Iterator[None]:
    """Mark background work that writes (a scheduled job), like a POST request.

    On SQLite its transactions then take the write lock when they begin, so jobs running at the
    same time as each other and as web requests queue instead of failing with "locked".
    """
    token = _writing_work.set(True)
    try:
        yield
    finally:
        _writing_work.reset(token)
