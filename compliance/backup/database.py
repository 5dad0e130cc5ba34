"""The database side of a backup: the consistent copy, its restore, and row digests.

SQLite is copied with the online backup API, PostgreSQL with `pg_dump --format=custom` from
an exported snapshot; both record row counts, the audit head and each table's row digest
(`table_digests`) read from the very snapshot that was copied, so a restore can be compared
with the backup row by row (`compare_tables`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import URL, make_url

from compliance.backup.manifest import BackupError
from compliance.errors import InvalidInput
from compliance.extensions import db

# Tables whose rows make a database "not empty" for restore (what a fresh `db upgrade` leaves
# empty). Reference tables filled by migrations are not listed.
_DATA_TABLES = ("users", "cases", "findings", "evidence_items", "audit_events", "policy_versions")
COUNTED = {
    "users": "users",
    "cases": "cases",
    "findings": "findings",
    "evidence_items": "evidence_items",
    "audit_events": "audit_events",
    "case_notes": "case_notes",
    "packets": "packets",
}


def _url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments and environment (the password never goes on argv)."""
    args = []
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"`{name}` is not on PATH: install the PostgreSQL client tools")
    return path


def counts() -> dict[str, int]:
    """Row counts of the tables a restore is checked by."""
    present = set(inspect(db.session.connection()).get_table_names())
    return {
        name: db.session.scalar(select(func.count()).select_from(table(name))) or 0
        for name in COUNTED.values()
        if name in present
    }


# ---------------------------------------------------------------- row digests
def _table_names(cursor: Any, backend: str) -> list[str]:
    """Every table of the database (the application's and any other: scheduler, search)."""
    if backend == "sqlite":
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    else:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return sorted(row[0] for row in cursor.fetchall())


def _row_bytes(row: Any) -> bytes:
    """A row's values as bytes to hash; aware times in UTC (sessions may differ in time zone)."""
    return repr(
        tuple(
            value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
            for value in row
        )
    ).encode()


# The PostgreSQL evidence store's rows are the blobs themselves: the dump leaves them out, they
# travel as files under evidence/ and are checked hash by hash, not as table rows.
BLOB_TABLES = ("evidence_blobs",)


def table_digests(dbapi_connection: Any, backend: str) -> dict[str, dict[str, Any]]:
    """Each table's row count and a digest of its rows, read through a DB-API connection.

    The digest is the sum, modulo 2**256, of the SHA-256 of each row's values (`repr` of the
    tuple the driver returns, aware times in UTC): it does not depend on the order rows come
    back in, so no table needs an ordering key, and it changes when any value of any row does.
    Both sides of a comparison are read by the same driver, so values have the same types and
    spellings.
    """
    cursor = dbapi_connection.cursor()
    try:
        digests = {}
        for name in _table_names(cursor, backend):
            if name in BLOB_TABLES:
                continue
            cursor.execute(f'SELECT * FROM "{name}"')
            total, rows = 0, 0
            while batch := cursor.fetchmany(5000):
                for row in batch:
                    total += int.from_bytes(hashlib.sha256(_row_bytes(row)).digest())
                rows += len(batch)
            digests[name] = {"rows": rows, "sha256": f"{total % (1 << 256):064x}"}
        return digests
    finally:
        cursor.close()


def compare_tables(expected: dict[str, dict[str, Any]], found: dict[str, dict[str, Any]]) -> list:
    """What differs between two `table_digests` results, one line per table."""
    problems = []
    for name in sorted(set(expected) | set(found)):
        want, have = expected.get(name), found.get(name)
        if want is None:
            problems.append(f"table {name}: not in the backup's manifest")
        elif have is None:
            problems.append(f"table {name}: missing after restore")
        elif want["rows"] != have["rows"]:
            problems.append(f"table {name}: {have['rows']} rows restored, {want['rows']} backed up")
        elif want["sha256"] != have["sha256"]:
            problems.append(f"table {name}: same row count, different rows")
    return problems


# ---------------------------------------------------------------- copy
def _snapshot_facts(execute: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """Row counts and audit head read through `execute(sql) -> rows` (the copied snapshot)."""
    row_counts = {name: execute(f"SELECT count(*) FROM {name}")[0][0] for name in COUNTED.values()}
    head = execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    return row_counts, (
        {"seq": head[0][0], "hash": head[0][1]} if head else {"seq": 0, "hash": None}
    )


@dataclass
class _Dump:
    file_name: str
    counts: dict[str, int]
    audit_head: dict[str, Any]
    tables: dict[str, dict[str, Any]]


def _dump_database(target: Path) -> _Dump:
    """Copy the database; counts, head and row digests are read from the copied snapshot."""
    url = _url()
    if url.get_backend_name() == "sqlite":
        source_path = url.database
        if not source_path or source_path == ":memory:":
            raise BackupError("an in-memory SQLite database cannot be backed up")
        out = target / "database.sqlite3"
        source = sqlite3.connect(source_path, isolation_level=None)
        destination = sqlite3.connect(out)
        try:
            # One read transaction for the facts and the copy: the backup API copies the
            # snapshot this connection reads (WAL), so the digests describe the copy exactly.
            source.execute("BEGIN")
            facts = _snapshot_facts(lambda sql: source.execute(sql).fetchall())
            tables = table_digests(source, "sqlite")
            source.backup(destination)
            source.execute("COMMIT")
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            destination.close()
            source.close()
        return _Dump(out.name, *facts, tables)
    if url.get_backend_name() == "postgresql":
        out = target / "database.pgdump"
        args, env = _pg_args(url)
        # pg_dump reads the snapshot this transaction exports: the counts, head and digests
        # recorded in the manifest describe exactly the dumped data, whatever commits meanwhile.
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
                facts = _snapshot_facts(lambda sql: conn.exec_driver_sql(sql).fetchall())
                tables = table_digests(conn.connection.dbapi_connection, "postgresql")
                result = subprocess.run(
                    [
                        _tool("pg_dump"),
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot}",
                        # The PostgreSQL evidence store's rows travel once, as the blob
                        # files below (re-hashed and written back through the store).
                        "--exclude-table-data=evidence_blobs",
                        *args,
                        "--file",
                        str(out),
                        url.database or "",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")
        return _Dump(out.name, *facts, tables)
    raise BackupError(f"no backup method for {url.get_backend_name()} databases")


# ---------------------------------------------------------------- restore
def database_has_data() -> bool:
    present = set(inspect(db.session.connection()).get_table_names())
    for name in _DATA_TABLES:
        if name in present and db.session.scalar(select(func.count()).select_from(table(name))):
            db.session.rollback()
            return True
    db.session.rollback()
    return False


def _restore_database(source: Path, manifest: dict[str, Any]) -> None:
    url = _url()
    backend = url.get_backend_name()
    if manifest.get("backend") != backend:
        raise InvalidInput(
            f"this backup is of a {manifest.get('backend')} database; "
            f"the configured database is {backend}"
        )
    dump = source / manifest["database_file"]
    db.session.remove()
    db.engine.dispose()  # no pooled connection may hold the old database open
    if backend == "sqlite":
        target = url.database
        if not target or target == ":memory:":
            raise BackupError("cannot restore into an in-memory SQLite database")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        origin = sqlite3.connect(dump)
        destination = sqlite3.connect(target)
        try:
            origin.backup(destination)  # replaces every page of the target atomically
        finally:
            destination.close()
            origin.close()
        return
    args, env = _pg_args(url)
    result = subprocess.run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            *args,
            "--dbname",
            url.database or "",
            str(dump),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()[:500]}")


def restored_tables() -> dict[str, dict[str, Any]]:
    """`table_digests` of the configured database, as restored."""
    raw = db.engine.raw_connection()
    try:
        return table_digests(raw.driver_connection, _url().get_backend_name())
    finally:
        raw.rollback()
        raw.close()
