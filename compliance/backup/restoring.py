"""Restoring a backup onto this instance, then checking that it came back identical.

`restore` refuses a folder whose manifest does not match its files, and a database that already
holds data (or another checkpoint key) unless forced; it restores the database, then the blobs
(re-hashed on the way in), checkpoints, policy files and keys, compares every table and file
with the manifest and records `backup.restored` in the restored audit chain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.audit.keys import key_path
from compliance.backup.database import (
    _restore_database,
    compare_tables,
    counts,
    database_has_data,
    restored_tables,
)
from compliance.backup.files import _restore_files, check_restored_files
from compliance.backup.manifest import (
    MANIFEST,
    BackupError,
    _require_operator,
    _sha256_file,
    verify_manifest,
)
from compliance.errors import Conflict
from compliance.extensions import db


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
