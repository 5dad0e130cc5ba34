"""The files of a backup beside the database: evidence blobs, policy files, checkpoints, keys.

Blobs are read and written through the evidence store's own interface (`hashes()`, `get()`,
`put()`), so every store backend backs up the same way. On restore a file this instance already
holds in another version is kept and reported as a conflict; keys are replaced only when forced.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from flask import current_app

from compliance.audit.keys import key_path
from compliance.backup.manifest import BackupError, _files_under, _sha256_file
from compliance.evidence.store import HEX64, blob_store


def _copy_tree(source: Path, destination: Path, pattern: str = "*") -> None:
    for path in _files_under(source, pattern):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _signing_key_path() -> Path | None:
    configured = current_app.config.get("SIGNING_KEY_PATH")
    return Path(configured) if configured else None


def _copy_files_into(target: Path) -> None:
    """Every blob, policy file, checkpoint and key into the backup folder `target`."""
    from compliance.policies.operations import policies_dir

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
