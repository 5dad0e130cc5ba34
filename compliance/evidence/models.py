"""Findings, evidence items, custody events, duplicate flags (subjects: compliance.cases.models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.audit.models import AuditCheckpoint
from compliance.cases.models import SEVERITIES, Case
from compliance.db import BigId, check, one_of, utcnow
from compliance.extensions import db

FINDING_KINDS = (
    "query_fingerprint",
    "rate_anomaly",
    "cot_elicitation",
    "coverage_sweep",
    "canary_hit",
    "account_linkage",
)
# "correspondence": a notice's proof of sending or a recipient's answer (compliance.notices):
# kept as evidence, but not what counsel approved, and never an exhibit.
ITEM_ROLES = ("finding_record", "attachment", "upload", "correspondence")
CUSTODY_ACTIONS = (
    "collected",
    "ingested",
    "viewed",
    "downloaded",
    "exported",
    "verified",
    "superseded",
    "transferred",
)
# A duplicate flag is `open` until a person merges the cases or marks them distinct.
DUPLICATE_STATUSES = ("open", "merged", "distinct")


class Finding(db.Model):
    """One detector finding as received; its canonical JSON is kept as an evidence item."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    detector_name: Mapped[str] = mapped_column(String(100))
    detector_version: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    confidence: Mapped[float] = mapped_column(Float)
    observed_from: Mapped[datetime]
    observed_to: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]]
    subjects: Mapped[list[Any]]  # as received: [{"type", "id"}]
    sample_prompt_count: Mapped[int] = mapped_column(default=0)
    content_sha256: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    ingested_by: Mapped[str] = mapped_column(String(300))
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship()
    items: Mapped[list[EvidenceItem]] = relationship(
        back_populates="finding", order_by="EvidenceItem.id"
    )

    __table_args__ = (
        UniqueConstraint("detector_name", "external_id"),
        Index("ix_findings_case_id_observed_to", "case_id", "observed_to"),
        Index("ix_findings_external_id", "external_id"),
        one_of("kind", FINDING_KINDS),
        one_of("severity", SEVERITIES),
        check("confidence >= 0 AND confidence <= 1", "confidence"),
        check("observed_from <= observed_to", "observed_window"),
        check("sample_prompt_count >= 0", "sample_prompt_count"),
    )

    @property
    def detector(self) -> str:
        return f"{self.detector_name} v{self.detector_version}"


class EvidenceItem(db.Model):
    """Bytes preserved for a case: a finding's record, an attachment, or an uploaded file.

    The bytes live in the blob store under `sha256`. An item is never edited: a correction is a
    new item whose `supersedes_id` names the one it corrects.
    """

    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    media_type: Mapped[str] = mapped_column(String(150))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(300))  # detector name+version, or who uploaded
    hash_method: Mapped[str] = mapped_column(String(100), default="SHA-256 computed server-side")
    collected_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"), unique=True)
    supersede_reason: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    finding: Mapped[Finding | None] = relationship(back_populates="items")
    supersedes: Mapped[EvidenceItem | None] = relationship(
        remote_side="EvidenceItem.id", foreign_keys=[supersedes_id]
    )
    custody: Mapped[list[CustodyEvent]] = relationship(
        back_populates="item", order_by="CustodyEvent.id"
    )

    __table_args__ = (
        Index("ix_evidence_items_case_id_id", "case_id", "id"),
        Index("ix_evidence_items_finding_id", "finding_id"),
        Index("ix_evidence_items_sha256", "sha256"),
        one_of("role", ITEM_ROLES),
        check("size_bytes >= 0", "size_bytes"),
    )


class CustodyEvent(db.Model):
    """One link in an item's chain of custody (append-only: corrections are new events)."""

    __tablename__ = "custody_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(300))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    actor_role: Mapped[str | None] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    purpose: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any] | None]

    item: Mapped[EvidenceItem] = relationship(back_populates="custody")
    repeats: Mapped[CustodyRepeat | None] = relationship(lazy="joined", viewonly=True)

    @property
    def count(self) -> int:
        """How many times this read happened (1 + its repeats within the window)."""
        return 1 + (self.repeats.count if self.repeats else 0)

    @property
    def last_occurred_at(self) -> datetime:
        return self.repeats.last_occurred_at if self.repeats else self.occurred_at

    __table_args__ = (
        Index("ix_custody_events_item_id_id", "item_id", "id"),
        one_of("action", CUSTODY_ACTIONS),
    )


class CustodyRepeat(db.Model):
    """A read (viewed, downloaded, exported) repeated by the same person for the same purpose
    within a few minutes: counted beside the first read's append-only custody event, so a
    page reloaded 16 times is one event with a count, never 16 events."""

    __tablename__ = "custody_repeats"

    custody_event_id: Mapped[int] = mapped_column(
        ForeignKey("custody_events.id"), primary_key=True, autoincrement=False
    )
    count: Mapped[int] = mapped_column(default=0)  # repeats after the first read
    last_occurred_at: Mapped[datetime]


class DuplicateFlag(db.Model):
    """A finding linked two open cases: the newer one may duplicate the older; a person decides."""

    __tablename__ = "case_duplicate_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys: a flag is history; merging or deleting a case must not rewrite it.
    case_id: Mapped[int]
    duplicate_of_id: Mapped[int]
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    shared_subjects: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")  # DUPLICATE_STATUSES
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(300))
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(
        primaryjoin="foreign(DuplicateFlag.case_id) == Case.id", viewonly=True
    )
    duplicate_of: Mapped[Case] = relationship(
        primaryjoin="foreign(DuplicateFlag.duplicate_of_id) == Case.id", viewonly=True
    )
    finding: Mapped[Finding | None] = relationship()

    __table_args__ = (
        UniqueConstraint("case_id", "duplicate_of_id"),
        Index("ix_case_duplicate_flags_duplicate_of_id", "duplicate_of_id"),
        Index("ix_case_duplicate_flags_status", "status"),
        one_of("status", DUPLICATE_STATUSES),
    )


class StoredBlob(db.Model):
    """Evidence bytes kept in the database: the `postgresql` blob store (see store.py).

    Write-once by trigger (UPDATE and TRUNCATE are always refused; DELETE only inside the
    orphan cleanup's transaction), addressed by the SHA-256 of `data`.
    """

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    length: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(server_default=func.now())


# Every column naming a blob in the evidence store. Capabilities that keep their own files
# there (packet PDFs, intel bundles) add theirs, so that `evidence verify` re-hashes them too
# and orphan cleanup never mistakes them for leftovers of an interrupted write.
BLOB_REFERENCES: list[Any] = [EvidenceItem.sha256, AuditCheckpoint.sha256]
