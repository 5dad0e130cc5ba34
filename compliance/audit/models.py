"""The append-only, hash-chained audit log (triggers refuse UPDATE, DELETE, TRUNCATE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from compliance.db import BigId
from compliance.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

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
    changes: Mapped[dict[str, Any] | None]
    details: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ix_audit_events_case_id_seq", "case_id", "seq"),
        Index("ix_audit_events_actor_seq", "actor", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )
