"""Backup and restore: the database, the evidence blobs, policy files and audit checkpoints.

A backup is a folder:

    manifest.json        format, backend, time, counts, audit head, and the SHA-256 and size
                         of every other file in the folder
    database.sqlite3     SQLite: a consistent copy made with the online backup API
    database.pgdump      PostgreSQL: `pg_dump --format=custom`
    evidence/sha256/...  every blob of the evidence store, one file each (as single-file blobs
                         are kept; restore writes them back through the store), whichever
                         backend holds them (the dump leaves out `evidence_blobs` rows)
    policies/*.md        the terms-of-service folder the policies are synced from
    checkpoints/*.json   signed audit chain heads
    keys/audit_key.pem   the instance's checkpoint signing key (so restored checkpoints verify):
                         a backup therefore holds a secret and must be kept like one

Order matters: the database is copied first, then the blobs. Blobs are written before the rows
that refer to them and never rewritten, so every blob the copied database refers to is already
on disk when the blobs are copied; a blob written after the database copy is at most an orphan.

`restore` refuses a folder whose manifest does not match its files, and a database that already
holds data unless forced; it restores the database, then the blobs (re-hashed on the way in),
checkpoints, policy files and key, and records `backup.restored` in the restored audit chain.
`backup.created` is recorded in the live chain after the copy (so it is not inside the backup).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import URL, make_url

from compliance.audit.chain import format_time, record
from compliance.audit.checkpoints import key_path
from compliance.auth.actor import Actor
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


# ---------------------------------------------------------------- backup
def _snapshot_facts(execute: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """Row counts and audit head read through `execute(sql) -> rows` (the copied snapshot)."""
    row_counts = {name: execute(f"SELECT count(*) FROM {name}")[0][0] for name in COUNTED.values()}
    head = execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    return row_counts, (
        {"seq": head[0][0], "hash": head[0][1]} if head else {"seq": 0, "hash": None}
    )


def _dump_database(target: Path) -> tuple[str, dict[str, int], dict[str, Any]]:
    """Copy the database; returns the file name and the counts and head *of the copy*."""
    url = _url()
    if url.get_backend_name() == "sqlite":
        source_path = url.database
        if not source_path or source_path == ":memory:":
            raise BackupError("an in-memory SQLite database cannot be backed up")
        out = target / "database.sqlite3"
        source = sqlite3.connect(source_path)
        destination = sqlite3.connect(out)
        try:
            source.backup(destination)  # a consistent snapshot, even while others write
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            facts = _snapshot_facts(lambda sql: destination.execute(sql).fetchall())
        finally:
            destination.close()
            source.close()
        return out.name, *facts
    if url.get_backend_name() == "postgresql":
        out = target / "database.pgdump"
        args, env = _pg_args(url)
        # pg_dump reads the snapshot this transaction exports: the counts and head recorded in
        # the manifest describe exactly the dumped data, whatever commits meanwhile.
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
                facts = _snapshot_facts(lambda sql: conn.exec_driver_sql(sql).fetchall())
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
        return out.name, *facts
    raise BackupError(f"no backup method for {url.get_backend_name()} databases")


def _copy_tree(source: Path, destination: Path, pattern: str) -> None:
    if not source.is_dir():
        return
    for path in sorted(source.glob(pattern)):
        if path.is_file():
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def backup(actor: Actor, directory: str | os.PathLike[str]) -> BackupReport:
    """Back everything up into `directory` (new or empty); records `backup.created`."""
    _require_operator(actor)
    from compliance.policies.operations import policies_dir

    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty: back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    db.session.commit()  # end any open snapshot: the copy sees everything committed so far
    database_file, row_counts, head = _dump_database(target)

    store = blob_store()
    evidence = target / "evidence"
    for sha256 in store.hashes():
        out = evidence / "sha256" / sha256[:2] / sha256
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(store.get(sha256))  # one file per blob, wherever the store keeps it
    _copy_tree(policies_dir(current_app.config), target / "policies", "*.md")
    _copy_tree(Path(current_app.config["CHECKPOINT_DIR"]), target / "checkpoints", "*.json")
    if key_path().is_file():
        (target / "keys").mkdir()
        shutil.copyfile(key_path(), target / "keys" / "audit_key.pem")
        os.chmod(target / "keys" / "audit_key.pem", 0o600)

    files: dict[str, dict[str, Any]] = {}
    total = 0
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        size = path.stat().st_size
        files[path.relative_to(target).as_posix()] = {"sha256": _sha256_file(path), "size": size}
        total += size
    manifest = {
        "format": FORMAT,
        "created_at": format_time(utcnow()),
        "created_by": actor.label,
        "backend": _url().get_backend_name(),
        "database_file": database_file,
        "counts": row_counts,
        "audit_head": head,
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
            "counts": row_counts,
            "audit_head": head,
        },
    )
    return BackupReport(target, manifest_sha256, len(files), total, row_counts, head)


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


def _copy_missing(source: Path, destination: Path, pattern: str) -> list[str]:
    """Copy files that are absent; a present file must be identical. Returns conflicts."""
    conflicts = []
    if not source.is_dir():
        return conflicts
    for path in sorted(source.glob(pattern)):
        target = destination / path.relative_to(source)
        if target.exists():
            if _sha256_file(target) != _sha256_file(path):
                conflicts.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return conflicts


def restore(actor: Actor, directory: str | os.PathLike[str], *, force: bool = False) -> dict:
    """Restore a backup onto this (empty) instance; records `backup.restored`. Commits."""
    _require_operator(actor)
    from compliance.policies.operations import policies_dir

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

    store = blob_store()
    blobs = 0
    for path in sorted((source / "evidence" / "sha256").glob("*/*")):
        if not HEX64.match(path.name):
            continue
        sha256, _created = store.put(path.read_bytes())
        if sha256 != path.name:  # the manifest matched, so only a bad manifest gets here
            raise BackupError(f"blob {path.name} does not hash to its name")
        blobs += 1
    conflicts = _copy_missing(
        source / "checkpoints", Path(current_app.config["CHECKPOINT_DIR"]), "*.json"
    )
    conflicts += _copy_missing(source / "policies", policies_dir(current_app.config), "*.md")
    if key_source.is_file() and (force or not key_path().is_file()):
        key_path().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(key_source, key_path())
        os.chmod(key_path(), 0o600)

    restored_counts = counts()
    summary = {
        "directory": str(source.resolve()),
        "manifest_sha256": _sha256_file(source / MANIFEST),
        "backup_created_at": manifest.get("created_at"),
        "blobs": blobs,
        "counts": restored_counts,
        "expected_counts": manifest.get("counts"),
        "audit_head": manifest.get("audit_head"),
        "conflicting_files": conflicts[:50],
        "forced": force,
    }
    record("backup.restored", actor=actor, object_type="backup", details=summary)
    db.session.commit()
    if restored_counts != manifest.get("counts"):
        raise BackupError(
            "restored row counts differ from the backup's manifest",
            details={"restored": restored_counts, "expected": manifest.get("counts")},
        )
    return summary
