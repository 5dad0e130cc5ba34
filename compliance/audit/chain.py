"""The one audit writer and the chain verifier.

Every operation that changes data calls `record()` in the same transaction as its change.
Appends are serialised (an advisory lock on PostgreSQL, the write lock on SQLite), so the
chain never forks and never has a gap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session

from compliance.audit.context import current_request_id
from compliance.audit.models import AuditEvent
from compliance.audit.verify_export import GENESIS_HASH, canonical_bytes
from compliance.auth.actor import Actor
from compliance.db import utcnow
from compliance.extensions import db

AUDIT_LOCK_KEY = 7_234_001  # pg_advisory_xact_lock key reserved for chain appends
_HEAD_KEY = "audit_head"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(value: datetime) -> str:
    """Times in the chain: ISO 8601, UTC, microseconds, 'Z' (stable across databases)."""
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


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


def text_fingerprint(text: str) -> dict[str, Any]:
    """What the trail records of free text it must not hold (privileged notes, review notes).

    Auditors read the trail; the text itself, and its revisions, stay in their own tables.
    """
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


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
    row = stored_row(fields)
    audit_event = AuditEvent(**row)
    session.add(audit_event)
    session.flush()
    session.info[_HEAD_KEY] = (audit_event.seq, row["hash"])
    return audit_event


@dataclass
class PendingEvent:
    """One event for `record_many`: the arguments `record()` takes, minus actor and session."""

    action: str
    object_type: str
    object_id: Any = None
    case: Any = None
    changes: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


def record_many(
    events: list[PendingEvent], *, actor: Actor, session: Session | None = None
) -> None:
    """Append several events, in order, each chained exactly as `record()` would chain it.

    For operations that change many rows at once (a batch of findings touching tens of
    cases): one flush and one multi-row INSERT instead of one flush per event.
    """
    if not events:
        return
    session = session or db.session()
    session.flush()  # pending changes first, as record() does before its event
    seq, prev_hash = _head(session)
    request_id = current_request_id()
    rows = []
    for pending in events:
        seq += 1
        row = stored_row(
            {
                "seq": seq,
                "occurred_at": format_time(utcnow()),
                "actor": actor.label,
                "action": pending.action,
                "object_type": pending.object_type,
                "object_id": None if pending.object_id is None else str(pending.object_id),
                "case_id": getattr(pending.case, "id", None),
                "case_ref": getattr(pending.case, "ref", None),
                "changes": normalise(pending.changes) or None,
                "details": normalise(pending.details) or None,
                "request_id": request_id,
                "prev_hash": prev_hash,
            }
        )
        rows.append(row)
        prev_hash = row["hash"]
    session.execute(insert(AuditEvent.__table__), rows)
    session.info[_HEAD_KEY] = (seq, prev_hash)


def stored_row(fields: dict[str, Any]) -> dict[str, Any]:
    """The database row for an event's hashed fields: index columns, payload and hash."""
    payload = canonical_bytes(fields)
    digest = hashlib.sha256(fields["prev_hash"].encode("ascii") + b"\n" + payload).hexdigest()
    return {
        "seq": fields["seq"],
        "occurred_at": datetime.strptime(fields["occurred_at"], _TIME_FORMAT).replace(tzinfo=UTC),
        "actor": fields["actor"],
        "action": fields["action"],
        "object_type": fields["object_type"],
        "object_id": fields["object_id"],
        "case_id": fields["case_id"],
        "case_ref": fields["case_ref"],
        "request_id": fields["request_id"],
        "prev_hash": fields["prev_hash"],
        "payload": payload.decode("utf-8"),
        "hash": digest,
    }


def iter_events(
    session: Session | None = None,
    batch: int = 20000,
    start_seq: int = 1,
    end_seq: int | None = None,
    case_refs: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Events with start_seq <= seq <= end_seq in order, streamed by keyset (constant memory).

    With case_refs, only the events written for those cases (an export of one case).
    Fields come from each event's payload, the hashed record.
    """
    session = session or db.session()
    c = AuditEvent.__table__.c
    last = start_seq - 1
    loads = json.loads
    while True:
        query = select(c.seq, c.payload, c.hash).where(c.seq > last)
        if end_seq is not None:
            query = query.where(c.seq <= end_seq)
        if case_refs is not None:
            query = query.where(c.case_ref.in_(case_refs))
        rows = session.execute(query.order_by(c.seq).limit(batch)).all()
        if not rows:
            return
        for _seq, payload, digest in rows:
            event = loads(payload)
            event["hash"] = digest
            yield event
        last = rows[-1][0]


@dataclass
class ChainReport:
    ok: bool
    count: int
    head_seq: int | None = None
    head_hash: str | None = None
    bad_seq: int | None = None
    problem: str | None = None


@functools.lru_cache(maxsize=65536)  # actors, actions, object types repeat across the log
def _quoted(value: str | None) -> str:
    """JSON for a string exactly as the canonical form writes it (fast path for plain text)."""
    if value is None:
        return "null"
    if _PLAIN.fullmatch(value):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f]*')


def verify_chain(session: Session | None = None, batch: int = 20000) -> ChainReport:
    """Walk the whole log from the first event; name the first event that breaks it.

    For each event: the sequence continues, the previous hash links up, SHA-256 over the
    previous hash and the payload gives the stored hash, and the index columns say what the
    payload says (a column edited to hide or misattribute an event is caught too).
    """
    session = session or db.session()
    postgres = session.get_bind().dialect.name == "postgresql"
    when_sql = (
        """to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        if postgres
        else "replace(occurred_at, ' ', 'T') || 'Z'"
    )
    # Plain DB-API rows: at a million events the ORM's row objects would cost more than the
    # hashing itself. Keyset batches keep memory flat on both databases.
    sql = (
        "SELECT seq, prev_hash, payload, hash, action, actor, case_id, case_ref, object_id, "
        f"object_type, {when_sql}, request_id FROM audit_events "
        f"WHERE seq > {'%s' if postgres else '?'} ORDER BY seq LIMIT {int(batch)}"
    )
    cursor = session.connection().connection.cursor()
    sha256 = hashlib.sha256
    quoted = _quoted
    expected_seq, last_hash, count = 1, GENESIS_HASH, 0
    last = 0
    while True:
        cursor.execute(sql, (last,))
        rows = cursor.fetchall()
        if not rows:
            break
        for seq, prev, payload, digest, action, actor, case_id, ref, oid, otype, when, rid in rows:
            problem = None
            if seq != expected_seq:
                problem = f"sequence gap or reordering: expected seq={expected_seq}"
            elif prev != last_hash:
                problem = "prev_hash does not match the previous event's hash"
            elif sha256(f"{prev}\n{payload}".encode()).hexdigest() != digest:
                problem = "hash does not match the event's content"
            elif not (
                payload.startswith(
                    f'{{"action":{quoted(action)},"actor":{quoted(actor)},'
                    f'"case_id":{"null" if case_id is None else case_id},'
                    f'"case_ref":{quoted(ref)},"changes":'
                )
                and payload.endswith(
                    f',"object_id":{quoted(oid)},"object_type":{quoted(otype)},'
                    f'"occurred_at":"{when}","prev_hash":"{prev}",'
                    f'"request_id":{quoted(rid)},"seq":{seq}}}'
                )
            ):
                problem = "indexed columns do not match the event's hashed content"
            if problem:
                return ChainReport(ok=False, count=count, bad_seq=seq, problem=problem)
            expected_seq, last_hash, count = seq + 1, digest, count + 1
        last = rows[-1][0]
    return ChainReport(ok=True, count=count, head_seq=expected_seq - 1, head_hash=last_hash)
