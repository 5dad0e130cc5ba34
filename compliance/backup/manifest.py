"""A backup folder's format: its manifest, checked file by file, and what every job shares.

`verify_manifest` re-hashes every file of a folder against its manifest before anything is
restored or drilled; `newest_backup` finds the latest folder among kept backups. The error a
backup job raises, the operator-only rule and the file hashing live here too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from compliance.actor import Actor
from compliance.errors import InvalidInput, OperationError, PermissionDenied

FORMAT = "compliance-backup/v1"
MANIFEST = "manifest.json"
_CHUNK = 1024 * 1024


class BackupError(OperationError):
    """A backup or restore could not be made; the message says why."""

    status = 500
    code = "backup_failed"


def _require_operator(actor: Actor) -> None:
    if not actor.is_operator:
        raise PermissionDenied("only the operator (a shell on the server) backs up or restores")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(folder: Path, pattern: str = "*") -> list[Path]:
    """Every regular file under `folder`, at any depth, in a stable order."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob(pattern) if path.is_file())


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
