"""The restore drill: prove a backup restores, in a temporary instance thrown away after.

A drill restores a backup into a temporary instance (a temporary SQLite file, or a temporary
PostgreSQL database on the same server), compares every table's rows and every file with the
manifest, verifies the audit chain (and each restored checkpoint) and the evidence there, and
records `backup.drilled` with the verdict in the live chain (the audit page shows the last one,
`last_drill`). The scheduler runs a drill weekly.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.backup.database import _restore_database, _url
from compliance.backup.files import _restore_files, check_restored_files
from compliance.backup.manifest import (
    MANIFEST,
    BackupError,
    _files_under,
    _require_operator,
    _sha256_file,
    newest_backup,
    verify_manifest,
)
from compliance.backup.restoring import _database_problems
from compliance.backup.writing import backup
from compliance.errors import InvalidInput, OperationError
from compliance.extensions import db


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
