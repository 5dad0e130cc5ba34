"""The one blob store: bytes addressed by their SHA-256, written once, never rewritten.

The store knows only bytes and hashes. `FilesystemStore` keeps each blob read-only at
`<root>/sha256/ab/cd/<hex>`; a write goes to a temporary file, is fsynced, then linked into
place atomically, so a crash leaves either the whole blob or only a temporary file that
`orphans()` / `remove()` can clean. An object store can replace it behind `BlobStore`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from flask import current_app

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


class BlobStore(Protocol):
    """What the application needs from wherever evidence bytes are kept."""

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store bytes; returns (sha256 hex, True when this call wrote a new blob)."""
        ...

    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs at once (one durability barrier); returns their hashes."""
        ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...

    def check(self, sha256: str) -> str:
        """'ok', 'missing' or 'altered' after re-hashing the stored bytes."""
        ...

    def hashes(self) -> Iterator[str]:
        """Every stored blob's hash."""
        ...

    def remove(self, sha256: str) -> None:
        """Delete a blob: only for orphans that no record refers to."""
        ...

    def stale_temporaries(self, older_than_seconds: float) -> list[str]: ...


class BlobMissing(Exception):
    """The store has no blob with this hash."""


class FilesystemStore:
    """Content-addressed, write-once files on a local (or mounted) file system."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.blobs = self.root / "sha256"
        self.tmp = self.root / "tmp"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        if not (self.blobs / "ff").is_dir():
            # One level of 256 shard folders, made once: creating folders on the fly cost as
            # much as writing the blobs, and 256 folders hold millions of files comfortably.
            for shard in range(256):
                (self.blobs / f"{shard:02x}").mkdir(exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not HEX64.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blobs / sha256[:2] / sha256

    def put(self, data: bytes) -> tuple[str, bool]:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256, False  # write-once: an existing blob is never rewritten
        temporary = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            with open(temporary, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            temporary.unlink(missing_ok=True)  # a full disk leaves no half-written file
            raise
        os.chmod(temporary, 0o444)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # link() refuses to replace an existing file, unlike rename(): a blob written
            # concurrently by someone else is kept as it is.
            os.link(temporary, target)
            created = True
        except FileExistsError:
            created = False
        finally:
            temporary.unlink()
        if created:
            _fsync_dir(target.parent)
        return sha256, created

    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs with two file-system syncs instead of two per blob.

        Every new blob is written to a temporary file, the file system is synced once (the
        bytes are durable), the files are moved into place, and it is synced again (the names
        are durable). A crash at any point leaves only whole blobs or temporary files.

        A batch writes hundreds of small files, and each file-system metadata operation waits
        for the journal when the disk is busy: this path uses plain descriptors and strings,
        creates each file read-only (no chmod), moves it with one no-replace rename (no link
        plus unlink) and creates a directory only when the move finds it missing.
        """
        hashes = [hashlib.sha256(data).hexdigest() for data in blobs]
        pending: dict[str, str] = {}  # sha256 -> temporary file still to remove
        blobs_root, tmp_root = str(self.blobs), str(self.tmp)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            for sha256, data in zip(hashes, blobs, strict=True):
                if sha256 in pending:
                    continue
                target = f"{blobs_root}/{sha256[:2]}/{sha256}"
                if os.path.exists(target):
                    continue  # write-once: an existing blob is never rewritten
                temporary = f"{tmp_root}/{uuid.uuid4().hex}.part"
                pending[sha256] = temporary  # removed below even if this write fails
                descriptor = os.open(temporary, flags, 0o444)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(descriptor, view) :]
                finally:
                    os.close(descriptor)
            if not pending:
                return hashes
            _sync_file_system(self.tmp, [Path(t) for t in pending.values()])
            parents = set()
            for sha256, temporary in list(pending.items()):
                parent = f"{blobs_root}/{sha256[:2]}"
                target = f"{parent}/{sha256}"
                try:
                    moved = _move_no_replace(temporary, target)
                except FileNotFoundError:
                    os.makedirs(parent, exist_ok=True)
                    moved = _move_no_replace(temporary, target)
                if moved:
                    del pending[sha256]
                parents.add(Path(parent))
            _sync_file_system(self.blobs, [], sorted(parents))
        finally:
            for temporary in pending.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
        return hashes

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as error:
            raise BlobMissing(sha256) from error

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def check(self, sha256: str) -> str:
        digest = hashlib.sha256()
        try:
            with open(self.path(sha256), "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return "missing"
        return "ok" if digest.hexdigest() == sha256 else "altered"

    def hashes(self) -> Iterator[str]:
        for path in sorted(self.blobs.glob("*/*")):
            if HEX64.match(path.name):
                yield path.name

    def remove(self, sha256: str) -> None:
        path = self.path(sha256)
        path.chmod(0o644)
        path.unlink(missing_ok=True)

    def stale_temporaries(self, older_than_seconds: float) -> list[str]:
        """Temporary files left by a crashed write, old enough that no write is still running."""
        limit = time.time() - older_than_seconds
        return sorted(str(p) for p in self.tmp.glob("*.part") if p.stat().st_mtime < limit)


def _syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _syncfs()


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.renameat2
    except (OSError, AttributeError):
        return None


_RENAMEAT2 = _renameat2()


def _move_no_replace(source: str, target: str) -> bool:
    """Move a temporary file to its blob name unless a blob already has that name.

    True when moved (the temporary is gone); False when the blob exists (written
    concurrently: theirs is kept and the temporary stays for the caller to remove).
    """
    global _RENAMEAT2
    if _RENAMEAT2 is not None:
        old, new = os.fsencode(source), os.fsencode(target)
        if _RENAMEAT2(_AT_FDCWD, old, _AT_FDCWD, new, _RENAME_NOREPLACE) == 0:
            return True
        error = ctypes.get_errno()
        if error == errno.EEXIST:
            return False
        if error == errno.ENOENT:
            raise FileNotFoundError(error, os.strerror(error), target)
        if error not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(error, os.strerror(error), target)
        _RENAMEAT2 = None  # this file system cannot: link() also refuses to replace
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    os.unlink(source)
    return True


def _sync_file_system(anchor: Path, files: list[Path], directories: list[Path] = ()) -> None:
    """Make these files' bytes (and directory entries) durable: one syncfs(2) where available."""
    if _SYNCFS is not None:
        descriptor = os.open(anchor, os.O_RDONLY)
        try:
            if _SYNCFS(descriptor) == 0:
                return
        finally:
            os.close(descriptor)
    for path in files:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    for directory in directories:
        _fsync_dir(directory)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def blob_store() -> FilesystemStore:
    """The application's store, rooted at EVIDENCE_DIR."""
    root = current_app.config["EVIDENCE_DIR"]
    cached = current_app.extensions.get("blob_store")
    if cached is None or str(cached.root) != str(root):
        cached = current_app.extensions["blob_store"] = FilesystemStore(root)
    return cached
