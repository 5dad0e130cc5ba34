"""The evidence store's integrity: verification, orphan blobs, moving to another store."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.db import chunked, utcnow
from compliance.errors import (
    PermissionDenied,
)
from compliance.evidence.models import (
    BLOB_REFERENCES,
    CustodyEvent,
    EvidenceItem,
)
from compliance.evidence.store import BlobMissing, BlobStore, blob_store
from compliance.extensions import db

ORPHAN_GRACE_SECONDS = 3600  # a blob younger than this may belong to a batch still committing


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    items: int
    problems: list[tuple[str, str]] = field(default_factory=list)  # (sha256, missing|altered)


def verify_evidence(actor: Actor, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Re-hash every blob the system refers to; audit, and record custody for evidence items.

    The scheduler's job calls this with a system actor; `compliance evidence verify` with the
    operator.
    """
    store = blob_store()
    rows = db.session.execute(
        select(EvidenceItem.id, EvidenceItem.sha256).order_by(EvidenceItem.id)
    ).all()
    status: dict[str, str] = {}
    for row in rows:
        if row.sha256 not in status:
            status[row.sha256] = store.check(row.sha256)
        if progress:
            progress(1)
    now = utcnow()
    role = actor.role or ("detector token" if actor.token_id else None)
    db.session.add_all(
        CustodyEvent(
            item_id=row.id,
            action="verified",
            actor=actor.label,
            actor_name=actor.name,
            actor_role=role,
            purpose="scheduled integrity check"
            if actor.label.startswith("system:")
            else "integrity check",
            occurred_at=now,
            details={"result": status[row.sha256], "sha256": row.sha256},
        )
        for row in rows
    )
    # Files other capabilities keep in the store (packet PDFs, intel bundles) are checked too.
    for column in BLOB_REFERENCES[1:]:
        for sha in db.session.scalars(select(column).where(column.is_not(None)).distinct()):
            if sha not in status:
                status[sha] = store.check(sha)
    problems = sorted((sha, s) for sha, s in status.items() if s != "ok")
    record(
        "evidence.verified",
        actor=actor,
        object_type="evidence_store",
        details={
            "ok": not problems,
            "items": len(rows),
            "blobs": len(status),
            "problems": [{"sha256": sha, "status": s} for sha, s in problems][:100],
        },
    )
    return VerifyReport(ok=not problems, checked=len(status), items=len(rows), problems=problems)


def find_orphans(grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Blobs nothing refers to (left by a batch that failed after writing bytes)."""
    store = blob_store()
    on_disk = list(store.hashes())
    referenced: set[str] = set()
    for chunk in chunked(on_disk):
        for column in BLOB_REFERENCES:
            referenced |= set(db.session.scalars(select(column).where(column.in_(chunk))))
    limit = time.time() - grace_seconds
    return [sha for sha in on_disk if sha not in referenced and store.written_at(sha) < limit]


def clean_orphans(actor: Actor, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Remove orphan blobs and stale temporary files; audited."""
    if not actor.is_operator:
        raise PermissionDenied("only the operator cleans the evidence store")
    store = blob_store()
    orphans = find_orphans(grace_seconds)
    store.remove(orphans)
    temporaries = store.stale_temporaries(grace_seconds)
    for path in temporaries:
        os.unlink(path)
    record(
        "evidence.orphans_removed",
        actor=actor,
        object_type="evidence_store",
        details={"blobs": orphans[:200], "count": len(orphans), "temporaries": len(temporaries)},
    )
    return orphans


@dataclass
class StoreMove:
    """What `move_store` did: blobs copied, already there, and every hash that failed."""

    blobs: int
    copied: int
    already: int
    problems: list[tuple[str, str]] = field(default_factory=list)  # (sha256, what is wrong)

    @property
    def ok(self) -> bool:
        return not self.problems


MOVE_BATCH_BYTES = 16 * 1024 * 1024


def move_store(
    actor: Actor,
    source: BlobStore,
    target: BlobStore,
    description: str,
    progress: Callable[[int], None] | None = None,
) -> StoreMove:
    """Copy every blob of `source` into `target`, then re-hash every one there; audited.

    A blob whose bytes no longer match its hash in the source is not copied (it is reported,
    as `evidence verify` would). At the end every source blob and every blob a record refers
    to is read back from the target and re-hashed: the move is good only when all are `ok`.
    The source is left as it was; switch COMPLIANCE_EVIDENCE_STORE once this passes.
    """
    if not actor.is_operator:
        raise PermissionDenied("only the operator moves the evidence store")
    hashes = list(source.hashes())
    problems: list[tuple[str, str]] = []
    copied = already = 0
    batch: list[bytes] = []
    size = 0

    def write() -> None:
        nonlocal batch, size
        if batch:
            target.put_many(batch)
        batch, size = [], 0

    for sha256 in hashes:
        if progress:
            progress(1)
        if target.exists(sha256):
            already += 1  # re-hashed below with the rest
            continue
        try:
            data = source.get(sha256)
        except BlobMissing:
            problems.append((sha256, "missing in the source"))
            continue
        if hashlib.sha256(data).hexdigest() != sha256:
            problems.append((sha256, "altered in the source"))
            continue
        batch.append(data)
        size += len(data)
        copied += 1
        if size >= MOVE_BATCH_BYTES:
            write()
    write()
    wanted = set(hashes)
    for column in BLOB_REFERENCES:
        wanted |= set(db.session.scalars(select(column).where(column.is_not(None)).distinct()))
    reported = {sha for sha, _problem in problems}
    for sha256 in sorted(wanted - reported):
        status = target.check(sha256)
        if status != "ok":
            problems.append((sha256, f"{status} in the target"))
    problems.sort()
    record(
        "evidence.store_moved",
        actor=actor,
        object_type="evidence_store",
        details={
            "move": description,
            "ok": not problems,
            "blobs": len(hashes),
            "copied": copied,
            "already": already,
            "verified": len(wanted),
            "problems": [{"sha256": sha, "status": what} for sha, what in problems][:100],
        },
    )
    return StoreMove(len(hashes), copied, already, problems)
