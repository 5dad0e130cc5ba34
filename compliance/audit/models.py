"""The append-only, hash-chained audit log (triggers refuse UPDATE, DELETE, TRUNCATE)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from compliance.db import BigId, utcnow
from compliance.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    @property
    def record(self) -> dict[str, Any]:
        """The hashed fields, read from the payload (never from the index columns)."""
        cached = self.__dict__.get("_record")
        if cached is None:
            cached = self.__dict__["_record"] = json.loads(self.payload)
        return cached

    @property
    def changes(self) -> dict[str, Any] | None:
        return self.record.get("changes")

    @property
    def details(self) -> dict[str, Any] | None:
        return self.record.get("details")

    # The sequence number is assigned by the chain writer, under a lock, never by the database:
    # a gap would otherwise be indistinguishable from a deleted event.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    # No foreign key: deleting or merging a case must never touch its history.
    case_id: Mapped[int | None]
    case_ref: Mapped[str | None] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    # The record itself: the event's canonical JSON, exactly the bytes that were hashed.
    # The columns above are an index for finding events; `audit verify` checks that they
    # agree with the payload, and what is shown and exported is read from the payload.
    payload: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ix_audit_events_case_id_seq", "case_id", "seq"),
        # Case pages and case exports select by ref: refs are never reused, row ids may be.
        Index("ix_audit_events_case_ref_seq", "case_ref", "seq"),
        Index("ix_audit_events_actor_seq", "actor", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_object_seq", "object_type", "object_id", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )


class AuditCheckpoint(db.Model):
    """A signed chain head: proof, kept outside the database too, of how long the log was."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigId, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300))
    key_id: Mapped[str] = mapped_column(String(64))  # SHA-256 of the raw public key
    public_key: Mapped[str] = mapped_column(Text)  # PEM
    signature: Mapped[str] = mapped_column(String(200))  # base64 Ed25519 signature
    file_name: Mapped[str | None] = mapped_column(String(300))
