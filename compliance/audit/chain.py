"""The one audit writer and the chain verifier.

Every operation that changes data calls `record()` in the same transaction as its change.
Appends are serialised (an advisory lock on PostgreSQL, the write lock on SQLite), so the
chain never forks and never has a gap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from compliance.audit.context import current_request_id
from compliance.audit.models import AuditEvent
from compliance.audit.verify_export import GENESIS_HASH, check_chain, event_hash
from compliance.auth.actor import Actor
from compliance.db import utcnow
from compliance.extensions import db

AUDIT_LOCK_KEY = 7_234_001  # pg_advisory_xact_lock key reserved for chain appends
_HEAD_KEY = "audit_head"


def format_time(value: datetime) -> str:
    """Times in the chain: ISO 8601, UTC, microseconds, 'Z' (stable across databases)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"not JSON-serialisable in an audit event: {type(value).__name__}")


def normalise(value: Any) -> Any:
    """JSON round trip, so what is hashed is exactly what the database gives back."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_jsonable, allow_nan=False))


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Changed fields only, as {field: {"before": old, "after": new}}."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _head(session: Session) -> tuple[int, str]:
    cached = session.info.get(_HEAD_KEY)
    if cached is not None:
        return cached
    if session.get_bind().dialect.name == "postgresql":
        # Held to the end of the transaction: concurrent writers queue here.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_head(session: Session, *args: Any) -> None:
    session.info.pop(_HEAD_KEY, None)


def record(
    action: str,
    *,
    actor: Actor,
    object_type: str,
    object_id: Any = None,
    case: Any = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    session: Session | None = None,
) -> AuditEvent:
    """Append one event to the chain in the current transaction (flushes, never commits)."""
    session = session or db.session()
    seq, prev_hash = _head(session)
    fields = {
        "seq": seq + 1,
        "occurred_at": format_time(utcnow()),
        "actor": actor.label,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "case_id": getattr(case, "id", None),
        "case_ref": getattr(case, "ref", None),
        "changes": normalise(changes) or None,
        "details": normalise(details) or None,
        "request_id": current_request_id(),
        "prev_hash": prev_hash,
    }
    digest = event_hash(fields)
    audit_event = AuditEvent(
        **{
            **fields,
            "occurred_at": datetime.strptime(
                fields["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ"
            ).replace(tzinfo=UTC),
        },
        hash=digest,
    )
    session.add(audit_event)
    session.flush()
    session.info[_HEAD_KEY] = (audit_event.seq, digest)
    return audit_event


def event_fields(row: Any) -> dict[str, Any]:
    """The hashed fields of a stored event (an ORM object or a Core row), plus its hash."""
    return {
        "seq": row.seq,
        "occurred_at": format_time(row.occurred_at),
        "actor": row.actor,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "case_id": row.case_id,
        "case_ref": row.case_ref,
        "changes": row.changes,
        "details": row.details,
        "request_id": row.request_id,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def iter_events(session: Session | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every event in sequence order, streamed in batches by keyset (constant memory)."""
    session = session or db.session()
    table = AuditEvent.__table__
    last = 0
    while True:
        rows = session.execute(
            select(table).where(table.c.seq > last).order_by(table.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield event_fields(row)
        last = rows[-1].seq


@dataclass
class ChainReport:
    ok: bool
    count: int
    head_seq: int | None = None
    head_hash: str | None = None
    bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session | None = None) -> ChainReport:
    """Recompute every hash from the first event; name the first event that breaks the chain."""
    events = iter_events(session)
    first = next(events, None)
    if first is None:
        return ChainReport(ok=True, count=0, head_seq=0, head_hash=GENESIS_HASH)
    if first["seq"] != 1 or first["prev_hash"] != GENESIS_HASH:
        return ChainReport(ok=False, count=0, bad_seq=first["seq"], problem="chain start missing")

    def all_events() -> Iterator[dict[str, Any]]:
        yield first
        yield from events

    result = check_chain(all_events(), GENESIS_HASH)
    return ChainReport(
        ok=result["ok"],
        count=result["count"],
        head_seq=result.get("head_seq"),
        head_hash=result.get("head_hash"),
        bad_seq=result.get("bad_seq"),
        problem=result.get("problem"),
    )
