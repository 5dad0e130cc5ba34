"""Writing a backup: the database copy first, then every file, then the manifest over them.

Order matters: blobs are written before the rows that refer to them and never rewritten, so
every blob the copied database refers to is already in the store when the blobs are copied; a
blob written after the database copy is at most an orphan. `backup.created` is recorded in the
live chain after the copy (so it is not inside the backup).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.actor import Actor
from compliance.audit.chain import format_time, record
from compliance.backup.database import _dump_database, _url
from compliance.backup.files import _copy_files_into
from compliance.backup.manifest import (
    FORMAT,
    MANIFEST,
    _files_under,
    _require_operator,
    _sha256_file,
)
from compliance.db import utcnow
from compliance.errors import Conflict
from compliance.extensions import db


@dataclass
class BackupReport:
    """What `backup` wrote: the folder, its manifest's hash, and what it holds."""

    directory: Path
    manifest_sha256: str
    files: int
    total_bytes: int
    counts: dict[str, int] = field(default_factory=dict)
    audit_head: dict[str, Any] = field(default_factory=dict)


def backup(actor: Actor, directory: str | os.PathLike[str]) -> BackupReport:
    """Back everything up into `directory` (new or empty); records `backup.created`."""
    _require_operator(actor)
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty: back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    db.session.commit()  # end any open snapshot: the copy sees everything committed so far
    dump = _dump_database(target)
    _copy_files_into(target)

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
