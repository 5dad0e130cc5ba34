"""The one blob store: bytes addressed by their SHA-256, written once, never rewritten.

The store knows only bytes and hashes. `FilesystemStore` keeps two kinds of read-only files:

    <root>/sha256/ab/<hex>        one blob per file (single writes and blobs over PACK_LIMIT)
    <root>/packs/<hex>.pack       the small blobs of one `put_many` call, back to back
    <root>/tmp/*.part             files being written

A pack starts with an index (each blob's SHA-256, offset and length) and is named by the
SHA-256 of its whole content. Creating a file costs far more kernel time than writing a few
kilobytes, so a batch of 500 findings writes one pack instead of 500 files. Every read
re-hashes the blob's bytes, wherever they are. A write goes to a temporary file, is synced,
then moved into place with a no-replace rename, so a crash leaves either whole files or
temporary files that `stale_temporaries()` lists.

`DatabaseStore` keeps the same blobs as rows of the PostgreSQL table `evidence_blobs`, so that
several hosts share one store with no shared disk (COMPLIANCE_EVIDENCE_STORE=postgresql). Its
write-once rule is a trigger: UPDATE and TRUNCATE are refused, DELETE too except inside
`remove()` (orphan cleanup), which sets a transaction-local flag. Each blob is one row: a pack
exists on disk because creating a file costs far more than writing its bytes; in PostgreSQL a
batch is one multi-row INSERT in one transaction (one durability barrier), which is what a pack
buys, and a packed layout would still need one index row per blob. The store writes on its own
connection and commits before returning, as a file write is durable before the rows that
refer to it commit: a failed batch leaves orphans, never rows pointing at nothing.

An object store can replace either behind `BlobStore`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import struct
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

from flask import current_app
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024
PACK_LIMIT = 1024 * 1024  # blobs smaller than this go into packs; larger ones stay single files
PACK_MAGIC = b"evidence-pack/1\n"
_COUNT = struct.Struct(">Q")
_ENTRY = struct.Struct(">32sQQ")  # digest, offset from the start of the file, length
_PACK_NAME = re.compile(r"^([0-9a-f]{64})\.pack$")


class BlobStore(Protocol):
    """What the application needs from wherever evidence bytes are kept."""

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store bytes; returns (sha256 hex, True when this call wrote a new blob)."""
        ...

    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs at once (one durability barrier); returns their hashes."""
        ...

    def get(self, sha256: str) -> bytes:
        """The stored bytes as they are (callers that serve them use `checked_bytes`)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def check(self, sha256: str) -> str:
        """'ok', 'missing' or 'altered' after re-hashing the stored bytes."""
        ...

    def hashes(self) -> Iterator[str]:
        """Every stored blob's hash."""
        ...

    def written_at(self, sha256: str) -> float:
        """When the blob was stored (Unix time): orphan cleanup spares recent writes."""
        ...

    def remove(self, hashes: Collection[str]) -> None:
        """Delete blobs: only orphans that no record refers to."""
        ...

    def stale_temporaries(self, older_than_seconds: float) -> list[str]: ...


class BlobMissing(Exception):
    """The store has no blob with this hash."""


class BlobDamaged(Exception):
    """A blob someone needs is missing, or its bytes no longer hash to its name."""

    def __init__(self, sha256: str, status: str) -> None:
        super().__init__(f"{sha256} is {status}")
        self.sha256, self.status = sha256, status


def checked_bytes(store: BlobStore, sha256: str) -> bytes:
    """The stored bytes, re-hashed as they are read: what is served, exported or embedded."""
    try:
        data = store.get(sha256)
    except BlobMissing:
        raise BlobDamaged(sha256, "missing") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobDamaged(sha256, "altered")
    return data


class _Packed(NamedTuple):
    """Where a packed blob is (a tuple: millions of them cost the garbage collector nothing)."""

    pack: str  # file name in <root>/packs
    offset: int
    length: int


class FilesystemStore:
    """Content-addressed, write-once files on a local (or mounted) file system."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.blobs = self.root / "sha256"
        self.packs = self.root / "packs"
        self.tmp = self.root / "tmp"
        for folder in (self.blobs, self.packs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        # Where each packed blob is, from the packs' own indexes: read once per pack and
        # process, refreshed when a lookup misses (another process may have written a pack).
        self._packs: dict[str, list[tuple[str, int, int]]] = {}  # name -> its index
        self._index: dict[str, _Packed] = {}  # sha256 -> where it is

    def path(self, sha256: str) -> Path:
        """Where a single-file blob is (or would be); packed blobs live in packs."""
        if not HEX64.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blobs / sha256[:2] / sha256

    # ------------------------------------------------------------ writing
    def put(self, data: bytes) -> tuple[str, bool]:
        sha256 = hashlib.sha256(data).hexdigest()
        if self.exists(sha256):
            return sha256, False  # write-once: an existing blob is never rewritten
        return sha256, self._put_file(sha256, data)

    def _put_file(self, sha256: str, data: bytes) -> bool:
        """Write one blob as a single file; False when that file already exists."""
        target = self.path(sha256)
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
        return created

    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs, the small ones together in one new pack.

        Every new file (the pack, each large blob) is written to a temporary file and
        fsynced (the bytes are durable), moved into place, and its folder is fsynced (the
        name is durable). A crash at any point leaves only whole files or temporary files.
        A batch writes one pack and perhaps a few large files, so this is a handful of
        fsyncs, not syncfs(2), which would also wait for every other writer on a shared disk.
        """
        hashes = [hashlib.sha256(data).hexdigest() for data in blobs]
        self._refresh()  # once for the whole batch: packs other processes wrote meanwhile
        small: dict[str, bytes] = {}
        large: dict[str, bytes] = {}
        for sha256, data in zip(hashes, blobs, strict=True):
            if sha256 in small or sha256 in large or sha256 in self._index:
                continue  # write-once: an existing blob is never rewritten
            if os.path.exists(f"{self.blobs}/{sha256[:2]}/{sha256}"):
                continue
            (small if len(data) < PACK_LIMIT else large)[sha256] = data
        moves: list[tuple[str, str]] = []  # temporary file -> its final name
        try:
            if small:
                pack = _pack_bytes(small)
                name = f"{hashlib.sha256(pack).hexdigest()}.pack"
                moves.append((self._write_temporary([pack]), f"{self.packs}/{name}"))
            for sha256, data in large.items():
                target = f"{self.blobs}/{sha256[:2]}/{sha256}"
                moves.append((self._write_temporary([data]), target))
            if not moves:
                return hashes
            parents = set()
            for temporary, target in moves:
                parent = os.path.dirname(target)
                try:
                    _move_no_replace(temporary, target)
                except FileNotFoundError:
                    os.makedirs(parent, exist_ok=True)
                    _move_no_replace(temporary, target)
                parents.add(Path(parent))
            for parent in sorted(parents):
                _fsync_dir(parent)
        finally:
            for temporary, _target in moves:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)  # left when the move found the file already there
        return hashes

    def _write_temporary(self, parts: list[bytes]) -> str:
        """A new read-only temporary file holding these bytes, synced to disk."""
        temporary = f"{self.tmp}/{uuid.uuid4().hex}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(temporary, flags, 0o444)
        try:
            for data in parts:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        except OSError:
            os.close(descriptor)
            os.unlink(temporary)  # a full disk leaves no half-written file
            raise
        os.close(descriptor)
        return temporary

    # ------------------------------------------------------------ reading
    def _locate(self, sha256: str) -> _Packed | None:
        found = self._index.get(sha256)
        if found is None and self._refresh():
            found = self._index.get(sha256)
        return found

    def _read(self, sha256: str) -> bytes | None:
        """The stored bytes as they are (unchecked), or None when there are none."""
        try:
            with open(self.path(sha256), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            pass
        for _attempt in range(2):  # a pack may have been repacked by orphan cleanup
            found = self._locate(sha256)
            if found is None:
                return None
            try:
                with open(self.packs / found.pack, "rb") as handle:
                    handle.seek(found.offset)
                    return handle.read(found.length)
            except FileNotFoundError:
                self._forget(found.pack)
        return None

    def get(self, sha256: str) -> bytes:
        data = self._read(sha256)
        if data is None:
            raise BlobMissing(sha256)
        return data

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists() or self._locate(sha256) is not None

    def check(self, sha256: str) -> str:
        path = self.path(sha256)
        if path.exists() or self._locate(sha256) is None:
            return _check_file(path, sha256)  # single files are read in chunks (large blobs)
        data = self._read(sha256)
        if data is None:
            return "missing"
        return "ok" if hashlib.sha256(data).hexdigest() == sha256 else "altered"

    def hashes(self) -> Iterator[str]:
        self._refresh()
        single = {path.name for path in self.blobs.glob("*/*") if HEX64.match(path.name)}
        yield from sorted(single | set(self._index))

    def written_at(self, sha256: str) -> float:
        path = self.path(sha256)
        found = None if path.exists() else self._locate(sha256)
        return (self.packs / found.pack if found else path).stat().st_mtime

    # ------------------------------------------------------------ cleaning
    def remove(self, hashes: Collection[str]) -> None:
        """Delete these blobs (orphans): single files, and every pack that holds any of them.

        A pack is write-once, so it goes as a whole. A pack left by a failed batch usually
        holds orphans only; when another batch has since come to rely on one of its blobs
        (sent again after the failure), that blob is first stored again as a single file.
        """
        doomed = set(hashes)
        self._refresh()
        for pack, entries in list(self._packs.items()):
            packed = [sha256 for sha256, _offset, _length in entries]
            if doomed.isdisjoint(packed):
                continue
            kept = [s for s in packed if s not in doomed and not self.path(s).exists()]
            if any(self.check(sha256) != "ok" for sha256 in kept):
                continue  # a damaged blob someone relies on: `evidence verify` must see it
            for sha256 in kept:
                self._put_file(sha256, self.get(sha256))
            path = self.packs / pack
            with contextlib.suppress(FileNotFoundError):
                path.chmod(0o644)
                path.unlink()
            self._forget(pack)
        for sha256 in doomed:
            path = self.path(sha256)
            with contextlib.suppress(FileNotFoundError):
                path.chmod(0o644)
                path.unlink()
        self._refresh()  # blobs also held by another pack are still found there

    def stale_temporaries(self, older_than_seconds: float) -> list[str]:
        """Temporary files left by a crashed write, old enough that no write is still running."""
        limit = time.time() - older_than_seconds
        return sorted(str(p) for p in self.tmp.glob("*.part") if p.stat().st_mtime < limit)

    # ------------------------------------------------------------ the pack index
    def _refresh(self) -> bool:
        """Read the indexes of packs this process has not seen; True when any was new."""
        names = {name for name in os.listdir(self.packs) if _PACK_NAME.match(name)}
        for gone in set(self._packs) - names:
            self._forget(gone)
        new = names - set(self._packs)
        for name in sorted(new):
            try:
                entries = read_pack_index(self.packs / name)
            except FileNotFoundError:
                continue  # removed meanwhile
            self._packs[name] = entries
            for sha256, offset, length in entries:
                self._index.setdefault(sha256, _Packed(name, offset, length))
        return bool(new)

    def _forget(self, pack: str) -> None:
        """Drop a pack that is gone; a blob it shared with another pack is found there."""
        if self._packs.pop(pack, None) is not None:
            self._index = {
                sha256: _Packed(name, offset, length)
                for name, entries in reversed(sorted(self._packs.items()))
                for sha256, offset, length in entries
            }


def _pack_bytes(blobs: dict[str, bytes]) -> bytes:
    """One pack: magic, count, (digest, offset, length) per blob, then the blobs."""
    offset = len(PACK_MAGIC) + _COUNT.size + _ENTRY.size * len(blobs)
    index = []
    for sha256, data in blobs.items():
        index.append(_ENTRY.pack(bytes.fromhex(sha256), offset, len(data)))
        offset += len(data)
    return b"".join([PACK_MAGIC, _COUNT.pack(len(blobs)), *index, *blobs.values()])


def read_pack_index(path: Path) -> list[tuple[str, int, int]]:
    """A pack's (sha256, offset, length) entries; an unreadable header lists none."""
    with open(path, "rb") as handle:
        head = handle.read(len(PACK_MAGIC) + _COUNT.size)
        if len(head) < len(PACK_MAGIC) + _COUNT.size or not head.startswith(PACK_MAGIC):
            return []  # damaged: its blobs show as missing in `evidence verify`
        (count,) = _COUNT.unpack_from(head, len(PACK_MAGIC))
        raw = handle.read(_ENTRY.size * count)
    return [
        (digest.hex(), offset, length)
        for digest, offset, length in _ENTRY.iter_unpack(raw[: len(raw) - len(raw) % _ENTRY.size])
    ]


def _check_file(path: Path, sha256: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return "missing"
    return "ok" if digest.hexdigest() == sha256 else "altered"


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


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class DatabaseStore:
    """Content-addressed, write-once rows in PostgreSQL (`evidence_blobs`), own connection."""

    # Rows per INSERT or SELECT round trip, and bytes per INSERT (large attachments go alone).
    BATCH_ROWS = 1000
    BATCH_BYTES = 32 * 1024 * 1024

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the database blob store needs PostgreSQL")
        from compliance.evidence.models import StoredBlob

        self.engine = engine
        self.table = StoredBlob.__table__

    # ------------------------------------------------------------ writing
    def put(self, data: bytes) -> tuple[str, bool]:
        sha256 = hashlib.sha256(data).hexdigest()
        with self.engine.begin() as conn:
            inserted = conn.execute(
                self._insert().returning(self.table.c.sha256), self._row(sha256, data)
            )
            created = inserted.first() is not None
        return sha256, created

    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs in one transaction (in hash order: concurrent batches sharing a
        blob wait for each other instead of deadlocking)."""
        hashes = [hashlib.sha256(data).hexdigest() for data in blobs]
        unique = dict(sorted(zip(hashes, blobs, strict=True)))
        with self.engine.begin() as conn:
            rows: list[dict[str, object]] = []
            size = 0
            for sha256, data in unique.items():
                rows.append(self._row(sha256, data))
                size += len(data)
                if len(rows) >= self.BATCH_ROWS or size >= self.BATCH_BYTES:
                    conn.execute(self._insert(), rows)
                    rows, size = [], 0
            if rows:
                conn.execute(self._insert(), rows)
        return hashes

    def _insert(self) -> Insert:
        return pg_insert(self.table).on_conflict_do_nothing(index_elements=["sha256"])

    @staticmethod
    def _row(sha256: str, data: bytes) -> dict[str, object]:
        return {"sha256": sha256, "data": data, "length": len(data)}

    # ------------------------------------------------------------ reading
    def _read(self, sha256: str) -> bytes | None:
        with self.engine.connect() as conn:
            data = conn.scalar(select(self.table.c.data).where(self.table.c.sha256 == sha256))
        return None if data is None else bytes(data)

    def get(self, sha256: str) -> bytes:
        data = self._read(sha256)
        if data is None:
            raise BlobMissing(sha256)
        return data

    def exists(self, sha256: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.scalar(select(1).where(self.table.c.sha256 == sha256))
        return found is not None

    def check(self, sha256: str) -> str:
        data = self._read(sha256)
        if data is None:
            return "missing"
        return "ok" if hashlib.sha256(data).hexdigest() == sha256 else "altered"

    def hashes(self) -> Iterator[str]:
        """In hash order, a page at a time (no connection stays open between pages)."""
        last = ""
        while True:
            with self.engine.connect() as conn:
                page = list(
                    conn.scalars(
                        select(self.table.c.sha256)
                        .where(self.table.c.sha256 > last)
                        .order_by(self.table.c.sha256)
                        .limit(10 * self.BATCH_ROWS)
                    )
                )
            yield from page
            if len(page) < 10 * self.BATCH_ROWS:
                return
            last = page[-1]

    def written_at(self, sha256: str) -> float:
        with self.engine.connect() as conn:
            when = conn.scalar(
                select(func.extract("epoch", self.table.c.written_at)).where(
                    self.table.c.sha256 == sha256
                )
            )
        if when is None:
            raise BlobMissing(sha256)
        return float(when)

    # ------------------------------------------------------------ cleaning
    def remove(self, hashes: Collection[str]) -> None:
        """Delete blobs (orphans): the only DELETE the table's trigger lets through."""
        doomed = sorted(set(hashes))
        if not doomed:
            return
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL {REMOVAL_FLAG} = 'orphans'"))
            for start in range(0, len(doomed), self.BATCH_ROWS):
                chunk = doomed[start : start + self.BATCH_ROWS]
                conn.execute(delete(self.table).where(self.table.c.sha256.in_(chunk)))

    def stale_temporaries(self, older_than_seconds: float) -> list[str]:
        """None: a write is one transaction, so a crash leaves nothing half-written."""
        return []


# The transaction-local setting the `evidence_blobs` trigger checks before it lets a DELETE
# through (the migration creates the trigger; only `DatabaseStore.remove` sets it).
REMOVAL_FLAG = "compliance.evidence_blob_removal"
STORE_KINDS = ("filesystem", "postgresql")


def open_store(kind: str, *, directory: str | os.PathLike[str] | None = None) -> BlobStore:
    """A store of this kind for the current app: its database, or `directory` on disk."""
    if kind == "filesystem":
        return FilesystemStore(directory or current_app.config["EVIDENCE_DIR"])
    if kind == "postgresql":
        from compliance.extensions import db

        return DatabaseStore(db.engine)
    raise ValueError(f"unknown evidence store {kind!r}: one of {', '.join(STORE_KINDS)}")


def blob_store() -> BlobStore:
    """The application's store: EVIDENCE_STORE (filesystem at EVIDENCE_DIR, or postgresql)."""
    kind = current_app.config.get("EVIDENCE_STORE", "filesystem")
    if kind != "filesystem":
        return open_store(kind)
    root = current_app.config["EVIDENCE_DIR"]
    cached = current_app.extensions.get("blob_store")
    if cached is None or str(cached.root) != str(root):
        cached = current_app.extensions["blob_store"] = FilesystemStore(root)
    return cached
