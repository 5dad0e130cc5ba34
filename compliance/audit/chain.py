"""The one audit writer and the chain verifier.

Every operation that changes data calls `record()` in the same transaction as its change.
Appends are serialised (an advisory lock on PostgreSQL, the write lock on SQLite), so the
chain never forks and never has a gap.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Connection, event, func, insert, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from compliance.actor import Actor
from compliance.audit.context import current_request_id
from compliance.audit.models import AUDIT_PAYLOAD_TIME_SQL, GENERATED_COLUMNS, AuditEvent
from compliance.audit.verify_export import GENESIS_HASH, canonical_bytes
from compliance.audit.verify_range import JOB_VARIABLE, check_range
from compliance.db import utcnow
from compliance.extensions import db

log = logging.getLogger(__name__)

AUDIT_LOCK_KEY = 7_234_001  # pg_advisory_xact_lock key reserved for chain appends
_HEAD_KEY = "audit_head"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Reads repeated by one person within this window are one event with a count.
READ_WINDOW = timedelta(minutes=10)


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


FINGERPRINT_CONTEXT = b"compliance text fingerprint v1"


def fingerprint_key() -> bytes:
    """The secret behind text fingerprints, derived from the instance's audit key.

    Kept beside the audit key (and backed up with it) without a second file to lose; readers
    of the trail hold neither, so they cannot confirm a guess of a note's text.
    """
    from cryptography.hazmat.primitives import serialization

    from compliance.audit.keys import instance_key

    raw = instance_key().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return hmac.new(raw, FINGERPRINT_CONTEXT, hashlib.sha256).digest()


def text_fingerprint(text: str) -> dict[str, Any]:
    """What the trail records of free text it must not hold (privileged notes, review notes).

    Auditors read the trail; the text itself, and its revisions, stay in their own tables.
    A keyed HMAC, not a bare hash, and no length: a short or templated note cannot be
    confirmed by hashing guesses. The lab checks a text with `compliance audit fingerprint`.
    """
    digest = hmac.new(fingerprint_key(), text.encode(), hashlib.sha256).hexdigest()
    return {"hmac_sha256": digest}


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


def recorded_since(
    action: str, *, actor: Actor, object_type: str, object_id: Any, since: datetime
) -> bool:
    """True when this actor's `action` on this object is already in the trail since `since`
    (repeated reads within a window are one event; see evidence.operations.record_custody)."""
    from compliance.audit.models import AuditEvent as Event

    found = db.session.scalar(
        select(Event.seq)
        .where(
            Event.object_type == object_type,
            Event.object_id == str(object_id),
            Event.action == action,
            Event.actor == actor.label,
            Event.occurred_at >= since,
        )
        .limit(1)
    )
    return found is not None


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
    """The database row for an event: seq, payload (the canonical JSON) and hash.

    The index columns (actor, action, case, ...) are generated from the payload by the database.
    """
    payload = canonical_bytes(fields)
    digest = hashlib.sha256(fields["prev_hash"].encode("ascii") + b"\n" + payload).hexdigest()
    return {"seq": fields["seq"], "payload": payload.decode("utf-8"), "hash": digest}


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


# Below this many events a helper process costs more than it saves.
PARALLEL_FROM = 200_000


def verify_chain(session: Session | None = None, *, processes: int | None = None) -> ChainReport:
    """Walk the whole log from the first event; name the first event that breaks it.

    First the index columns: they must still be generated from the payload (a column turned
    into plain data could hide or misattribute an event). Then every event: the sequence
    continues and SHA-256 over the previous hash and the payload gives the stored hash. A long
    log is checked in two halves side by side (`processes=2`; default: from PARALLEL_FROM
    events on a database another process can open).
    """
    session = session or db.session()
    connection = session.connection()
    problem = generated_columns_problem(connection)
    if problem:
        return ChainReport(ok=False, count=0, problem=problem)
    head = session.scalar(select(func.max(AuditEvent.seq))) or 0
    if head == 0:
        return ChainReport(ok=True, count=0)
    job = _helper_job(connection.engine.url)
    if processes is None:
        processes = 2 if head >= PARALLEL_FROM and (os.cpu_count() or 1) > 1 else 1
    split = head // 2 if processes > 1 and job is not None and head > 1 else head
    helper = None
    if split < head:
        split_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == split))
        if split_hash is None:  # the first half reports the gap itself
            split = head
        else:
            helper = _start_helper(
                {**job, "first": split + 1, "last": head, "prev_hash": split_hash}
            )
    cursor = connection.connection.cursor()
    dialect = connection.dialect.name
    try:
        result = check_range(cursor, dialect, 1, split, GENESIS_HASH)
    except BaseException:
        if helper is not None:
            helper.kill()
        raise
    if not result["ok"]:
        if helper is not None:
            helper.kill()
        return ChainReport(ok=False, **_failure(result))
    if helper is not None:
        second = _helper_result(helper) or check_range(
            cursor, dialect, split + 1, head, result["head_hash"]
        )
        if not second["ok"]:
            second["count"] += split
            return ChainReport(ok=False, **_failure(second))
        result = second
    return ChainReport(ok=True, count=head, head_seq=head, head_hash=result["head_hash"])


def _failure(result: dict) -> dict:
    return {key: result[key] for key in ("count", "bad_seq", "problem")}


def _helper_job(url: URL) -> dict | None:
    """How a helper process reaches the same database (None: it cannot, e.g. in-memory)."""
    if url.get_backend_name() == "postgresql":
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return {"dialect": "postgresql", "url": libpq}
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        return {"dialect": "sqlite", "path": url.database}
    return None


def _start_helper(job: dict) -> subprocess.Popen:
    # The job travels in the environment, like PGPASSWORD: argv is visible to every user.
    return subprocess.Popen(
        [sys.executable, "-m", "compliance.audit.verify_range"],
        env={**os.environ, JOB_VARIABLE: json.dumps(job)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _helper_result(helper: subprocess.Popen) -> dict | None:
    """The helper's verdict; None when it failed to run (the caller checks the range itself)."""
    output, errors = helper.communicate()
    if helper.returncode != 0:
        log.warning("audit verify helper failed, checking its range here: %s", errors[-500:])
        return None
    return json.loads(output)


def generated_columns_problem(connection: Connection) -> str | None:
    """Whether each index column is still generated from the payload, by the same expression."""
    dialect = connection.dialect
    expected = {
        name: _normalised(str(sql.compile(dialect=dialect)))
        for name, sql in GENERATED_COLUMNS.items()
    }
    if dialect.name == "postgresql":
        rows = connection.execute(
            text(
                "SELECT a.attname, a.attgenerated = 's', pg_get_expr(d.adbin, d.adrelid) "
                "FROM pg_attribute a LEFT JOIN pg_attrdef d "
                "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "WHERE a.attrelid = 'audit_events'::regclass AND a.attnum > 0 "
                "AND NOT a.attisdropped"
            )
        ).all()
        found = {name: expression for name, generated, expression in rows if generated}
        body = connection.scalar(
            text("SELECT prosrc FROM pg_proc WHERE proname = 'audit_payload_time'")
        )
        if _normalised(body or "") != _normalised(AUDIT_PAYLOAD_TIME_SQL):
            return f"function audit_payload_time was changed: {body}"
    else:
        ddl = connection.scalar(
            text("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'audit_events'")
        )
        found = {
            match["name"]: match["expression"] for match in _SQLITE_GENERATED.finditer(ddl or "")
        }
    for name, expression in expected.items():
        if name not in found:
            return f"column {name} is no longer generated from the payload"
        if _normalised(found[name]) != expression:
            return f"column {name} is generated by another expression: {found[name]}"
    return None


_SQLITE_GENERATED = re.compile(
    r"^\s*(?P<name>\w+) [^\n]*?GENERATED ALWAYS AS \((?P<expression>.*)\) (?:STORED|VIRTUAL)",
    re.M,
)


def _normalised(sql: str) -> str:
    """SQL without spacing, brackets and quotes, as Alembic compares generated columns."""
    return re.sub(r"[\s()'\"`\[\]]", "", sql).lower()
