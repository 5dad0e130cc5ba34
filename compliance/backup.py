"""Backup and restore: the database, the evidence blobs, policy files and audit checkpoints.

A backup is a folder:

    manifest.json        format, backend, time, counts, audit head, and the SHA-256 and size
                         of every other file in the folder
    database.sqlite3     SQLite: a consistent copy made with the online backup API
    database.pgdump      PostgreSQL: `pg_dump --format=custom`
    evidence/sha256/...  every blob of the evidence store, one file each, read through the
                         store's own interface (`hashes()`, `get()`), so any store backend
                         backs up the same way; restore writes them back with `put()`
                         (the PostgreSQL dump leaves out `evidence_blobs` rows: blobs travel
                         once, as these files)
    policies/...         every file of the policies folder, at any depth (versions live in
                         policies/<document>/<version>.md)
    checkpoints/...      signed audit chain heads (every *.json, at any depth)
    keys/audit_key.pem   the instance's checkpoint signing key (so restored checkpoints verify)
    keys/signing_key.p12 the packet signing PKCS#12, when one is configured (its password is
                         configuration, not a file: it is not in the backup). A backup
                         therefore holds secrets and must be kept like one.

The manifest also records, for every table of the database, its row count and a digest of
its rows (`tables`), computed from the very snapshot that was copied. A restore (and a drill,
below) recomputes them on the restored database and re-hashes every restored file against
the manifest: a row or a file that did not come back identical is named.

Order matters: the database is copied first, then the blobs. Blobs are written before the rows
that refer to them and never rewritten, so every blob the copied database refers to is already
on disk when the blobs are copied; a blob written after the database copy is at most an orphan.

`restore` refuses a folder whose manifest does not match its files, and a database that already
holds data unless forced; it restores the database, then the blobs (re-hashed on the way in),
checkpoints, policy files and key, and records `backup.restored` in the restored audit chain.
`backup.created` is recorded in the live chain after the copy (so it is not inside the backup).

A drill (`drill`) proves a backup restores: it restores it into a temporary instance (a
temporary SQLite file, or a temporary PostgreSQL database on the same server), compares every
table's rows and every file with the manifest, verifies the audit chain (and each restored
checkpoint) and the evidence there, throws the instance away, and records `backup.drilled`
with the verdict in the live chain (the audit page shows the last one). The scheduler runs a
drill weekly.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from compliance.actor import Actor
from compliance.audit.chain import format_time, record
from compliance.audit.keys import key_path
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, OperationError, PermissionDenied
from compliance.evidence.store import HEX64, blob_store
from compliance.extensions import db

FORMAT = "compliance-backup/v1"
MANIFEST = "manifest.json"
_CHUNK = 1024 * 1024
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


class BackupError(OperationError):
    """A backup or restore could not be made; the message says why."""

    status = 500
    code = "backup_failed"


@dataclass
class BackupReport:
    directory: Path
    manifest_sha256: str
    files: int
    total_bytes: int
    counts: dict[str, int] = field(default_factory=dict)
    audit_head: dict[str, Any] = field(default_factory=dict)


def _require_operator(actor: Actor) -> None:
    if not actor.is_operator:
        raise PermissionDenied("only the operator (a shell on the server) backs up or restores")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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


# ---------------------------------------------------------------- backup
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


def _files_under(folder: Path, pattern: str = "*") -> list[Path]:
    """Every regular file under `folder`, at any depth, in a stable order."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob(pattern) if path.is_file())


def _copy_tree(source: Path, destination: Path, pattern: str = "*") -> None:
    for path in _files_under(source, pattern):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _signing_key_path() -> Path | None:
    configured = current_app.config.get("SIGNING_KEY_PATH")
    return Path(configured) if configured else None


def backup(actor: Actor, directory: str | os.PathLike[str]) -> BackupReport:
    """Back everything up into `directory` (new or empty); records `backup.created`."""
    _require_operator(actor)
    from compliance.policies.operations import policies_dir

    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty: back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    db.session.commit()  # end any open snapshot: the copy sees everything committed so far
    dump = _dump_database(target)

    store = blob_store()
    evidence = target / "evidence"
    for sha256 in store.hashes():
        out = evidence / "sha256" / sha256[:2] / sha256
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(store.get(sha256))  # one file per blob, wherever the store keeps it
    _copy_tree(policies_dir(current_app.config), target / "policies")
    _copy_tree(Path(current_app.config["CHECKPOINT_DIR"]), target / "checkpoints", "*.json")
    keys = [(key_path(), "audit_key.pem"), (_signing_key_path(), "signing_key.p12")]
    for path, name in keys:
        if path is not None and path.is_file():
            (target / "keys").mkdir(exist_ok=True)
            shutil.copyfile(path, target / "keys" / name)
            os.chmod(target / "keys" / name, 0o600)

    files: dict[str, dict[str, Any]] = {}
    total = 0
    for path in _files_under(target):
        size = path.stat().st_size
        files[path.relative_to(target).as_posix()] = {"sha256": _sha256_file(path), "size": size}
        total += size
    manifest = {
        "format": FORMAT,
        "created_at": format_time(utcnow()),
        "created_by": actor.label,
        "backend": _url().get_backend_name(),
        "database_file": dump.file_name,
        "counts": dump.counts,
        "audit_head": dump.audit_head,
        "tables": dump.tables,
        "files": files,
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (target / MANIFEST).write_bytes(manifest_bytes)
    manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    record(
        "backup.created",
        actor=actor,
        object_type="backup",
        details={
            "directory": str(target.resolve()),
            "manifest_sha256": manifest_sha256,
            "files": len(files),
            "bytes": total,
            "counts": dump.counts,
            "tables": len(dump.tables),
            "audit_head": dump.audit_head,
        },
    )
    return BackupReport(target, manifest_sha256, len(files), total, dump.counts, dump.audit_head)


# ---------------------------------------------------------------- restore
def verify_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest, after checking every file against it; InvalidInput listing what differs."""
    source = Path(directory)
    try:
        manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"{source} holds no readable {MANIFEST}: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInput(f"{source / MANIFEST} is not a {FORMAT} manifest")
    listed: dict[str, dict[str, Any]] = manifest.get("files") or {}
    problems: list[str] = []
    for name, entry in sorted(listed.items()):
        path = source / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            problems.append(f"{name}: not a path inside the backup")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != entry.get("size") or _sha256_file(path) != entry.get("sha256"):
            problems.append(f"{name}: altered (sha256 does not match the manifest)")
    present = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
    problems += [
        f"{name}: not in the manifest" for name in sorted(present - set(listed) - {MANIFEST})
    ]
    if manifest.get("database_file") not in listed:
        problems.append("the manifest names no database file")
    if problems:
        raise InvalidInput(
            f"the backup in {source} does not match its manifest; nothing was restored",
            details={"problems": problems[:50], "count": len(problems)},
        )
    return manifest


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


def _copy_missing(source: Path, destination: Path, pattern: str = "*") -> list[str]:
    """Copy files that are absent; a present file must be identical. Returns conflicts."""
    conflicts = []
    for path in _files_under(source, pattern):
        target = destination / path.relative_to(source)
        if target.exists():
            if _sha256_file(target) != _sha256_file(path):
                conflicts.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return conflicts


def _restore_key(key_source: Path, target: Path, force: bool) -> None:
    if key_source.is_file() and (force or not target.is_file()):
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file():
            target.chmod(0o600)
        shutil.copyfile(key_source, target)
        os.chmod(target, 0o600)


def _restore_signing_key_target() -> Path:
    """Where a backed-up packet signing key goes: the configured path, else the instance."""
    return _signing_key_path() or Path(current_app.instance_path) / "keys" / "signing_key.p12"


def _file_destinations() -> dict[str, Path]:
    """Where each folder of a backup is restored to, in this instance."""
    from compliance.policies.operations import policies_dir

    return {
        "policies": policies_dir(current_app.config),
        "checkpoints": Path(current_app.config["CHECKPOINT_DIR"]),
    }


def _restore_files(source: Path, force: bool) -> tuple[int, list[str]]:
    """Blobs through the store, then checkpoints, policy files and keys; (blobs, conflicts)."""
    store = blob_store()
    blobs = 0
    for path in sorted((source / "evidence" / "sha256").glob("*/*")):
        if not HEX64.match(path.name):
            continue
        sha256, _created = store.put(path.read_bytes())
        if sha256 != path.name:  # the manifest matched, so only a bad manifest gets here
            raise BackupError(f"blob {path.name} does not hash to its name")
        blobs += 1
    conflicts: list[str] = []
    for folder, destination in _file_destinations().items():
        conflicts += _copy_missing(source / folder, destination)
    _restore_key(source / "keys" / "audit_key.pem", key_path(), force)
    _restore_key(source / "keys" / "signing_key.p12", _restore_signing_key_target(), force)
    return blobs, conflicts


def check_restored_files(manifest: dict[str, Any], *, exact_blobs: bool = False) -> list[str]:
    """Every file the manifest lists, re-hashed where this instance now keeps it.

    Blobs are checked through the store (`check`); with `exact_blobs` (a drill's fresh
    instance) the store must hold no blob the backup did not have.
    """
    problems = []
    listed: dict[str, dict[str, Any]] = manifest.get("files") or {}
    destinations = _file_destinations()
    keys = {
        "keys/audit_key.pem": key_path(),
        "keys/signing_key.p12": _restore_signing_key_target(),
    }
    backed_up_blobs = set()
    for name, entry in sorted(listed.items()):
        folder, _, rest = name.partition("/")
        if folder == "evidence":
            sha256 = Path(name).name
            backed_up_blobs.add(sha256)
            status = blob_store().check(sha256)
            if status != "ok":
                problems.append(f"{name}: {status} in the restored evidence store")
            continue
        if folder in destinations:
            path = destinations[folder] / rest
        elif name in keys:
            path = keys[name]
        else:
            continue  # the database file: compared row by row instead
        if not path.is_file():
            problems.append(f"{name}: missing after restore ({path})")
        elif _sha256_file(path) != entry.get("sha256"):
            problems.append(f"{name}: restored file differs from the backup ({path})")
    if exact_blobs:
        extra = set(blob_store().hashes()) - backed_up_blobs
        problems += [f"evidence blob {sha256}: not in the backup" for sha256 in sorted(extra)]
    return problems


def _database_problems(manifest: dict[str, Any]) -> list[str]:
    """Rows as restored against the manifest: digests of every table, else counts (v1 early)."""
    if manifest.get("tables"):
        return compare_tables(manifest["tables"], restored_tables())
    restored_counts = counts()
    db.session.rollback()
    if restored_counts != manifest.get("counts"):
        return [f"row counts {restored_counts} differ from the backup's {manifest.get('counts')}"]
    return []


def restore(actor: Actor, directory: str | os.PathLike[str], *, force: bool = False) -> dict:
    """Restore a backup onto this (empty) instance; records `backup.restored`. Commits.

    After restoring, every table's rows and every file are compared with the manifest;
    a difference raises BackupError naming each (the restore stays, recorded as such).
    """
    _require_operator(actor)
    source = Path(directory)
    manifest = verify_manifest(source)
    if not force and database_has_data():
        raise Conflict(
            "the configured database already holds data; restore onto an empty instance "
            "or pass --force to replace it"
        )
    key_source = source / "keys" / "audit_key.pem"
    if (
        not force
        and key_path().is_file()
        and key_source.is_file()
        and _sha256_file(key_path()) != _sha256_file(key_source)
    ):
        raise Conflict(f"{key_path()} holds another checkpoint key; move it away or pass --force")
    _restore_database(source, manifest)
    problems = _database_problems(manifest)  # before backup.restored adds its own row
    blobs, conflicts = _restore_files(source, force)
    # A file this instance already held in another version was kept (listed as a conflict).
    problems += [
        problem
        for problem in check_restored_files(manifest)
        if not any(problem.endswith(f"({path})") for path in conflicts)
    ]

    restored_counts = counts()
    summary = {
        "directory": str(source.resolve()),
        "manifest_sha256": _sha256_file(source / MANIFEST),
        "backup_created_at": manifest.get("created_at"),
        "blobs": blobs,
        "tables": len(manifest.get("tables") or {}),
        "counts": restored_counts,
        "expected_counts": manifest.get("counts"),
        "audit_head": manifest.get("audit_head"),
        "conflicting_files": conflicts[:50],
        "problems": problems[:50],
        "forced": force,
    }
    record("backup.restored", actor=actor, object_type="backup", details=summary)
    db.session.commit()
    if problems:
        raise BackupError(
            "the restored instance differs from the backup",
            details={"problems": problems[:20], "count": len(problems)},
        )
    return summary


# ---------------------------------------------------------------- drill
@dataclass
class DrillReport:
    """What a restore drill found; `verdict` is the one line the CLI and the audit page show."""

    ok: bool
    directory: str
    backup_created_at: str | None = None
    manifest_sha256: str | None = None
    tables: int = 0
    rows: int = 0
    files: int = 0
    blobs: int = 0
    audit_events: int = 0
    checkpoints: int = 0
    evidence_items: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.ok:
            first = self.problems[0] if self.problems else "unknown failure"
            return (
                f"drill FAILED for the backup of {self.backup_created_at or self.directory}: "
                f"{len(self.problems)} problem(s); first: {first}"
            )
        return (
            f"drill OK: backup of {self.backup_created_at} restored into a temporary instance; "
            f"{self.tables} tables ({self.rows} rows) and {self.files} files identical; "
            f"audit chain OK ({self.audit_events} events, {self.checkpoints} checkpoint(s)); "
            f"evidence OK ({self.blobs} blobs, {self.evidence_items} items) "
            f"in {self.seconds:.1f} s"
        )

    def details(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "directory": self.directory,
            "backup_created_at": self.backup_created_at,
            "manifest_sha256": self.manifest_sha256,
            "tables": self.tables,
            "rows": self.rows,
            "files": self.files,
            "blobs": self.blobs,
            "audit_events": self.audit_events,
            "checkpoints": self.checkpoints,
            "evidence_items": self.evidence_items,
            "seconds": round(self.seconds, 2),
            "problems": self.problems[:50],
        }


def newest_backup(folder: str | os.PathLike[str]) -> Path | None:
    """The most recent backup (by its manifest's time) among the folders of `folder`."""
    found = []
    for manifest in Path(folder).glob(f"*/{MANIFEST}"):
        try:
            created = json.loads(manifest.read_text(encoding="utf-8")).get("created_at") or ""
        except (OSError, ValueError):
            continue
        found.append((created, manifest.parent))
    return max(found)[1] if found else None


def _temporary_database(work: Path) -> tuple[str, Any]:
    """A URL for an empty database beside the live one, and a function that drops it."""
    url = _url()
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{work / 'drill.db'}", lambda: None
    if url.get_backend_name() != "postgresql":
        raise BackupError(f"no drill method for {url.get_backend_name()} databases")
    name = f"{url.database}_drill_{os.getpid()}_{secrets.token_hex(3)}"[-63:].lstrip("_")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


def _checkpoint_problems(folder: Path) -> tuple[int, list[str]]:
    """Each restored checkpoint: signed by the restored key, and its head in the chain."""
    from compliance.audit.models import AuditEvent
    from compliance.trail.checkpoints import verify_signature

    problems, seen = [], 0
    for path in _files_under(folder, "*.json"):
        seen += 1
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            seq, head = int(document["seq"]), document["head_hash"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            problems.append(f"checkpoint {path.name}: unreadable ({error})")
            continue
        problem = verify_signature(document)
        if problem is None and seq > 0:
            stored = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
            if stored != head:
                problem = f"the restored chain has no event seq={seq} with the checkpointed hash"
        if problem:
            problems.append(f"checkpoint {path.name}: {problem}")
    return seen, problems


def _drill_here(source: Path, manifest: dict[str, Any], report: DrillReport) -> None:
    """Inside the temporary instance's app context: restore, compare, verify."""
    from compliance.audit.chain import verify_chain
    from compliance.evidence.operations import verify_evidence

    _restore_database(source, manifest)
    report.problems += _database_problems(manifest)
    report.blobs, _conflicts = _restore_files(source, force=True)
    report.problems += check_restored_files(manifest, exact_blobs=True)
    chain = verify_chain()
    report.audit_events = chain.count
    if not chain.ok:
        report.problems.append(f"audit chain broken at seq={chain.bad_seq}: {chain.problem}")
    elif chain.head_seq != (manifest.get("audit_head") or {}).get("seq", chain.head_seq):
        report.problems.append(
            f"audit head seq={chain.head_seq}, the backup's is {manifest['audit_head']['seq']}"
        )
    report.checkpoints, problems = _checkpoint_problems(Path(current_app.config["CHECKPOINT_DIR"]))
    report.problems += problems
    evidence = verify_evidence(Actor.system("backup-drill"))
    report.evidence_items = evidence.items
    report.problems += [f"evidence sha256={sha} {status}" for sha, status in evidence.problems]
    db.session.rollback()  # the custody and audit rows verification wrote are the drill's own


def _drill_in_temporary_instance(
    live: Any, url: str, work: Path, source: Path, manifest: dict[str, Any], report: DrillReport
) -> None:
    """A throw-away app on the temporary database and folders under `work`; drill there."""
    from compliance import create_app

    instance = create_app(
        {
            "ENV": live.config["ENV"],
            "TESTING": bool(live.config.get("TESTING")),
            "SECRET_KEY": live.config["SECRET_KEY"],
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(work / "instance"),
            "EVIDENCE_DIR": str(work / "evidence"),
            "CHECKPOINT_DIR": str(work / "checkpoints"),
            "POLICIES_DIR": str(work / "policies"),
            "AUDIT_KEY_PATH": str(work / "keys" / "audit_key.pem"),
            "SIGNING_KEY_PATH": str(work / "keys" / "signing_key.p12"),
            "BACKUP_DIR": None,
        }
    )
    with instance.app_context():
        try:
            _drill_here(source, manifest, report)
        except OperationError as error:
            report.problems.append(error.message)
        except Exception as error:  # noqa: BLE001 - whatever breaks a restore fails the drill
            report.problems.append(f"restore failed: {type(error).__name__}: {error}")
        finally:
            db.session.remove()
            db.engine.dispose()


def drill(actor: Actor, directory: str | os.PathLike[str] | None = None) -> DrillReport:
    """Prove a backup restores: into a temporary instance, compared row by row and file by file.

    Without `directory`: the newest backup in BACKUP_DIR, or, when none is configured, a fresh
    backup into a temporary folder. Records `backup.drilled` (with the verdict) in this
    instance's chain; the caller commits. Never raises for what the drill finds: a failed
    drill is a report with `ok` false.
    """
    _require_operator(actor)
    started = time.monotonic()
    live = current_app._get_current_object()  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="compliance-drill-") as temporary:
        work = Path(temporary)
        if directory is None and live.config.get("BACKUP_DIR"):
            directory = newest_backup(live.config["BACKUP_DIR"])
            if directory is None:
                raise InvalidInput(f"no backup in {live.config['BACKUP_DIR']} to drill")
        if directory is None:
            directory = backup(actor, work / "backup").directory
            db.session.commit()
        source = Path(directory)
        report = DrillReport(ok=False, directory=str(source.resolve()))
        try:
            manifest = verify_manifest(source)
        except InvalidInput as error:
            report.problems = [error.message, *((error.details or {}).get("problems") or [])]
        else:
            report.backup_created_at = manifest.get("created_at")
            report.manifest_sha256 = _sha256_file(source / MANIFEST)
            report.tables = len(manifest.get("tables") or {})
            report.rows = sum(t["rows"] for t in (manifest.get("tables") or {}).values())
            report.files = sum(
                1 for name in manifest.get("files") or {} if name != manifest["database_file"]
            )
            try:
                url, drop = _temporary_database(work)
            except SQLAlchemyError as error:
                report.problems.append(f"cannot create a temporary database: {error}")
            else:
                try:
                    _drill_in_temporary_instance(live, url, work, source, manifest, report)
                finally:
                    drop()
    report.ok = not report.problems
    report.seconds = time.monotonic() - started
    record("backup.drilled", actor=actor, object_type="backup", details=report.details())
    return report


def last_drill() -> Any:
    """The most recent recorded drill (an audit event), for the audit page."""
    from compliance.audit.models import AuditEvent

    return db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "backup.drilled")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
