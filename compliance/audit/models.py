"""The append-only, hash-chained audit log (triggers refuse UPDATE, DELETE, TRUNCATE)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Computed, Index, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import ColumnElement

from compliance.db import BigId, utcnow
from compliance.extensions import db


class PayloadField(ColumnElement[Any]):
    """SQL that reads one field of an audit event's payload (the hashed canonical JSON).

    The index columns of `audit_events` are generated from the payload by the database, so
    they cannot say anything the hashed record does not: `audit verify` checks the chain over
    the payloads and that these columns are still generated this way, without reading them.
    """

    inherit_cache = True

    def __init__(self, field: str, kind: str = "text") -> None:
        self.field, self.kind = field, kind


@compiles(PayloadField, "sqlite")
def _sqlite_field(element: PayloadField, compiler: Any, **kw: Any) -> str:
    value = f"json_extract(payload, '$.{element.field}')"
    if element.kind == "time":  # the layout SQLAlchemy stores SQLite datetimes in
        return f"replace(substr({value}, 1, 26), 'T', ' ')"
    return value


@compiles(PayloadField, "postgresql")
def _postgresql_field(element: PayloadField, compiler: Any, **kw: Any) -> str:
    # Written the way PostgreSQL prints it back, so schema comparisons see no difference.
    value = f"((payload)::json ->> '{element.field}'::text)"
    if element.kind == "integer":
        return f"({value})::bigint"
    if element.kind == "time":  # text -> timestamptz is not immutable; this function is
        return "audit_payload_time(payload)"
    return value


# The body of that function (created by the migration): `audit verify` checks it is unchanged.
AUDIT_PAYLOAD_TIME_SQL = "SELECT (payload::json ->> 'occurred_at')::timestamptz"


def _generated(field: str, kind: str = "text") -> Computed:
    return Computed(PayloadField(field, kind), persisted=True)


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
    # The record itself: the event's canonical JSON, exactly the bytes that were hashed.
    payload: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # An index for finding events, generated from the payload (see PayloadField); what is
    # shown and exported is read from the payload itself.
    occurred_at: Mapped[datetime] = mapped_column(_generated("occurred_at", "time"))
    actor: Mapped[str] = mapped_column(String(300), _generated("actor"))
    action: Mapped[str] = mapped_column(String(100), _generated("action"))
    object_type: Mapped[str] = mapped_column(String(50), _generated("object_type"))
    object_id: Mapped[str | None] = mapped_column(String(100), _generated("object_id"))
    # No foreign key: deleting or merging a case must never touch its history.
    case_id: Mapped[int | None] = mapped_column(_generated("case_id", "integer"))
    case_ref: Mapped[str | None] = mapped_column(String(40), _generated("case_ref"))
    request_id: Mapped[str | None] = mapped_column(String(64), _generated("request_id"))
    prev_hash: Mapped[str] = mapped_column(String(64), _generated("prev_hash"))

    __table_args__ = (
        Index("ix_audit_events_case_id_seq", "case_id", "seq"),
        # Case pages and case exports select by ref: refs are never reused, row ids may be.
        Index("ix_audit_events_case_ref_seq", "case_ref", "seq"),
        Index("ix_audit_events_actor_seq", "actor", "seq"),
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_object_seq", "object_type", "object_id", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )


GENERATED_COLUMNS = {
    column.name: column.computed.sqltext
    for column in AuditEvent.__table__.columns
    if column.computed is not None
}


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
    # The signed JSON document, kept in the evidence store where every host can read it.
    sha256: Mapped[str | None] = mapped_column(String(64))
