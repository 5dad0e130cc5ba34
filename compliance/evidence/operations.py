"""Evidence business rules: ingesting findings, correlating them into cases, custody, checks.

`ingest_findings` is the single way findings enter the system (API, CLI, upload form). A batch
is all-or-nothing: everything is validated and checked against stored findings before the first
blob is written, and rows are only flushed into the caller's transaction.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from compliance.audit.chain import READ_WINDOW, PendingEvent, diff, record, record_many
from compliance.auth.actor import Actor
from compliance.auth.permissions import can, require_permission
from compliance.cases import approval, retention, search
from compliance.cases import operations as cases
from compliance.cases.models import OPEN_STATES, Case
from compliance.db import chunked, utcnow
from compliance.errors import (
    BatchTooLarge,
    Conflict,
    InsufficientStorage,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from compliance.evidence.models import (
    BLOB_REFERENCES,
    CaseSubject,
    CustodyEvent,
    CustodyRepeat,
    DuplicateFlag,
    EvidenceItem,
    Finding,
    Subject,
)
from compliance.evidence.schema import FindingV1, validate_batch
from compliance.evidence.store import BlobDamaged, BlobMissing, BlobStore, blob_store, checked_bytes
from compliance.extensions import db

ORPHAN_GRACE_SECONDS = 3600  # a blob younger than this may belong to a batch still committing
# Other domains' reactions to newly stored findings, registered when they are imported (the
# notices' re-upload watch): each is called with the new finding ids and the actor, inside the
# ingest's transaction.
INGEST_HOOKS: list[Callable[[list[int], Actor], Any]] = []
_HASH_METHOD = EvidenceItem.__table__.c.hash_method.default.arg  # the model's wording


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one finding of a batch (the API's `results` item)."""

    index: int
    finding_id: int
    case_ref: str
    status: str  # created (opened a new case), attached (joined one), duplicate

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "finding_id": self.finding_id,
            "case_ref": self.case_ref,
            "status": self.status,
        }


@dataclass
class _Prepared:
    index: int
    finding: FindingV1
    record_bytes: bytes
    content_sha256: str
    attachments: list[tuple[str, str, bytes, str]]  # name, media type, bytes, sha256
    subjects: list[tuple[str, str]] = field(default_factory=list)  # (type, normalised value)


def may_ingest(actor: Actor) -> bool:
    """A token with the ingest scope, or a person allowed to add evidence."""
    if actor.token_id is not None:
        return "ingest" in actor.scopes
    return can(actor, "evidence.add")


def canonical_json(value: Any) -> bytes:
    """The stored form of a finding: sorted keys, no spaces, UTF-8 (hashes are reproducible)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _prepare(
    index: int, raw: dict[str, Any], finding: FindingV1, spellings: dict[tuple[str, str], str]
) -> _Prepared:
    attachments = []
    for a in finding.attachments:
        data = a.content()
        attachments.append((a.name, a.media_type, data, hashlib.sha256(data).hexdigest()))
    # The record keeps what the detector sent, except that attachment bytes are replaced by
    # their hash: each attachment is preserved as its own evidence item.
    record_dict = dict(raw)
    if attachments:
        record_dict["attachments"] = [
            {"name": name, "media_type": media_type, "sha256": sha256, "size": len(data)}
            for name, media_type, data, sha256 in attachments
        ]
    record_bytes = canonical_json(record_dict)
    # A batch names the same accounts and prefixes again and again: normalise each once.
    pairs = []
    for s in finding.subjects:
        spelling = spellings.get((s.type, s.id))
        if spelling is None:
            spelling = spellings[(s.type, s.id)] = s.normalised
        pairs.append((s.type, spelling))
    subjects = list(dict.fromkeys(pairs))
    return _Prepared(
        index=index,
        finding=finding,
        record_bytes=record_bytes,
        content_sha256=hashlib.sha256(record_bytes).hexdigest(),
        attachments=attachments,
        subjects=subjects,
    )


@dataclass(frozen=True)
class _Stored:
    id: int
    content_sha256: str
    case_ref: str


def _existing_findings(keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Stored]:
    # Columns only: a resent batch needs ids, hashes and refs, not ORM objects. Looked up by
    # external_id alone (a plain indexed IN; SQLite plans a row-value IN of thousands of pairs
    # poorly), keeping only the pairs asked for.
    wanted = set(keys)
    found: dict[tuple[str, str], _Stored] = {}
    for chunk in chunked(sorted({external_id for _name, external_id in wanted})):
        rows = db.session.execute(
            select(
                Finding.id,
                Finding.detector_name,
                Finding.external_id,
                Finding.content_sha256,
                Case.ref,
            )
            .join(Case, Case.id == Finding.case_id)
            .where(Finding.external_id.in_(chunk))
        )
        found.update(
            {(r[1], r[2]): _Stored(r[0], r[3], r[4]) for r in rows if (r[1], r[2]) in wanted}
        )
    return found


def _subject_ids(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of these subjects, creating the missing ones (safe against a concurrent creator)."""
    wanted = sorted(pairs)
    ids: dict[tuple[str, str], int] = {}

    def load(chunk: list[tuple[str, str]]) -> None:
        # By value alone (indexed), keeping the asked-for types: see _existing_findings.
        asked = set(chunk)
        rows = db.session.execute(
            select(Subject.id, Subject.type, Subject.value).where(
                Subject.value.in_(sorted({v for _t, v in chunk}))
            )
        )
        ids.update({(r.type, r.value): r.id for r in rows if (r.type, r.value) in asked})

    for chunk in chunked(wanted):
        load(chunk)
    missing = [p for p in wanted if p not in ids]
    if missing:
        insert_ = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        # One statement with many parameter sets (compiled once, cached), in sorted order so
        # concurrent writers take row locks in the same order.
        statement = insert_(Subject.__table__).on_conflict_do_nothing(
            index_elements=["type", "value"]
        )
        now = utcnow()
        for chunk in chunked(missing):
            db.session.execute(
                statement, [{"type": t, "value": v, "first_seen_at": now} for t, v in chunk]
            )
            load(chunk)
    return ids


def _open_links(subject_ids: list[int], extra_case: Case | None) -> dict[int, set[int]]:
    """subject id -> ids of open cases (and `extra_case`) already linked to it."""
    links: dict[int, set[int]] = {}
    for chunk in chunked(subject_ids):
        query = (
            select(CaseSubject.subject_id, CaseSubject.case_id)
            .join(Case, Case.id == CaseSubject.case_id)
            .where(CaseSubject.subject_id.in_(chunk))
        )
        states = Case.state.in_(OPEN_STATES)
        query = query.where(states | (Case.id == extra_case.id) if extra_case else states)
        for subject_id, case_id in db.session.execute(query):
            links.setdefault(subject_id, set()).add(case_id)
    return links


def _case_title(finding: FindingV1) -> str:
    kind = finding.kind.replace("_", " ")
    accounts = finding.metrics.get("accounts")
    scale = f", {accounts} accounts" if isinstance(accounts, int) and accounts > 1 else ""
    return f"{kind.capitalize()} reported by {finding.detector.name}{scale}"[:300]


def _estimated_queries(finding: FindingV1) -> int | None:
    requests = finding.metrics.get("requests")
    if isinstance(requests, int) and not isinstance(requests, bool) and requests >= 0:
        return requests
    return None


def _widen_window(
    case: Case, start: datetime, end: datetime, finding_ids: list[int]
) -> PendingEvent | None:
    """Stretch the case's incident window to cover new findings; the event to audit it."""
    old_start, old_end = case.incident_start, case.incident_end
    new_start = min(filter(None, [old_start, start]))
    new_end = max(filter(None, [old_end, end]))
    if (new_start, new_end) == (old_start, old_end):
        return None
    before = {"incident_start": old_start, "incident_end": old_end}
    case.incident_start, case.incident_end = new_start, new_end
    return PendingEvent(
        "case.incident_window_widened",
        object_type="case",
        object_id=case.id,
        case=case,
        changes=diff(before, {"incident_start": new_start, "incident_end": new_end}),
        details={"finding_ids": finding_ids},
    )


def _custody(
    item: EvidenceItem,
    action: str,
    actor_label: str,
    actor_name: str,
    actor_role: str | None,
    purpose: str,
    occurred_at: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    event = CustodyEvent(
        item=item,
        action=action,
        actor=actor_label,
        actor_name=actor_name,
        actor_role=actor_role,
        purpose=purpose,
        occurred_at=occurred_at or utcnow(),
        details=details,
    )
    db.session.add(event)
    return event


READ_ACTIONS = frozenset({"viewed", "downloaded", "exported"})


def _recent_read(
    item: EvidenceItem, actor: Actor, action: str, purpose: str
) -> CustodyEvent | None:
    """The same person's same read of this item, for the same purpose, in the last minutes
    (measured from its latest repeat: a read every few minutes stays one event)."""
    since = utcnow() - READ_WINDOW
    return db.session.scalar(
        select(CustodyEvent)
        .outerjoin(CustodyRepeat, CustodyRepeat.custody_event_id == CustodyEvent.id)
        .where(
            CustodyEvent.item_id == item.id,
            CustodyEvent.actor == actor.label,
            CustodyEvent.action == action,
            CustodyEvent.purpose == purpose,
            func.coalesce(CustodyRepeat.last_occurred_at, CustodyEvent.occurred_at) >= since,
        )
        .order_by(CustodyEvent.id.desc())
        .limit(1)
    )


def record_custody(
    item: EvidenceItem,
    actor: Actor,
    action: str,
    purpose: str,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Add one custody event to an item, and its audit event (packets: action 'exported').

    A read repeated by the same person for the same purpose within READ_WINDOW counts on the
    first read's event instead: a page reloaded (or a link replayed) 16 times is one event
    with a count of 16, never 16 events.
    """
    if action in READ_ACTIONS and item.id is not None:
        first = _recent_read(item, actor, action, purpose)
        if first is not None:
            tally = db.session.get(CustodyRepeat, first.id)
            if tally is None:
                tally = CustodyRepeat(custody_event_id=first.id, count=0)
                db.session.add(tally)
            tally.count += 1
            tally.last_occurred_at = utcnow()
            db.session.flush()
            return first
    role = actor.role or ("detector token" if actor.token_id else None)
    event = _custody(item, action, actor.label, actor.name, role, purpose, details=details)
    db.session.flush()
    record(
        f"evidence.{action}",
        actor=actor,
        object_type="evidence_item",
        object_id=item.id,
        case=item.case,
        details={"sha256": item.sha256, "purpose": purpose[:500], **(details or {})},
    )
    return event


def _put_blobs(blobs: list[bytes]) -> list[str]:
    """Write blobs; a storage failure (disk full, I/O error) becomes a clear refusal."""
    try:
        return blob_store().put_many(blobs)
    except OSError as error:
        raise InsufficientStorage(
            f"the evidence store could not write ({error.strerror or error}); nothing was stored",
            details={"errno": error.errno},
        ) from error


_collector_lock = threading.Lock()
_collector_pauses = 0  # batches in this process running with the cyclic collector paused


@contextlib.contextmanager
def _cyclic_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is built (threads share one pause).

    A batch of 500 findings holds ~20,000 container objects (parsed JSON, validated models,
    rows) until it is written. The collector would move them to its oldest generation and,
    about every other batch, walk the whole heap of the application (50-200 ms here: a
    quarter of the batch). They are freed by reference counting as soon as the batch is
    done, so there is nothing for the collector to find meanwhile.
    """
    global _collector_pauses
    with _collector_lock:
        pausing = _collector_pauses > 0 or gc.isenabled()  # else someone else disabled it
        if pausing:
            _collector_pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if pausing:
            with _collector_lock:
                _collector_pauses -= 1
                if _collector_pauses == 0:
                    gc.enable()


def ingest_findings(
    batch: Any,
    actor: Actor,
    *,
    channel: str = "api",
    into_case: Case | None = None,
    ref_prefix: str | None = None,
    max_attachment_bytes: int | None = None,
) -> list[IngestOutcome]:
    """Validate, preserve and correlate a batch of findings; all or nothing.

    `channel` says how the batch arrived (api, cli, upload) for the custody record;
    `into_case` attaches every finding to that case (an analyst's upload on a case page).
    """
    with _cyclic_collector_paused():
        return _ingest_findings(
            batch,
            actor,
            channel=channel,
            into_case=into_case,
            ref_prefix=ref_prefix,
            max_attachment_bytes=max_attachment_bytes,
        )


def _ingest_findings(
    batch: Any,
    actor: Actor,
    *,
    channel: str,
    into_case: Case | None,
    ref_prefix: str | None,
    max_attachment_bytes: int | None,
) -> list[IngestOutcome]:
    if not may_ingest(actor):
        raise PermissionDenied(
            "this token lacks the 'ingest' scope"
            if actor.token_id
            else f"{actor.role} may not add evidence"
        )
    if isinstance(batch, dict):
        batch = [batch]
    if not isinstance(batch, list) or not batch:
        raise InvalidInput(
            "send one finding object or a non-empty array of findings",
            details=[{"index": None, "field": "", "message": "empty or not a finding"}],
        )
    config = current_app.config
    if len(batch) > config["MAX_BATCH_ITEMS"]:
        raise BatchTooLarge(
            f"the batch holds {len(batch):,} findings; at most {config['MAX_BATCH_ITEMS']:,} "
            "per batch (send the rest in another batch)"
        )
    limit = max_attachment_bytes or config["MAX_ATTACHMENT_BYTES"]
    prefix = ref_prefix or config["CASE_REF_PREFIX"]
    findings, errors = validate_batch(batch, limit)
    if errors:
        bad = len(batch) - len(findings)
        shown = (
            f"; the first {len(errors)} of {errors.total:,} problems are listed"
            if errors.total > len(errors)
            else ""
        )
        raise InvalidInput(
            f"{bad} of {len(batch)} finding(s) are not valid; nothing was stored{shown}",
            details=list(errors),
        )

    spellings: dict[tuple[str, str], str] = {}
    prepared = [_prepare(i, batch[i], f, spellings) for i, f in enumerate(findings)]
    existing = _existing_findings([p.finding.key for p in prepared])
    conflicts = [
        {
            "index": p.index,
            "field": "external_id",
            "message": f"finding {existing[p.finding.key].id} was received with this detector "
            "and external_id but different content; send a new external_id for a correction",
        }
        for p in prepared
        if p.finding.key in existing and existing[p.finding.key].content_sha256 != p.content_sha256
    ]
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} finding(s) contradict findings already received; nothing was stored",
            details=conflicts,
        )
    new = [p for p in prepared if p.finding.key not in existing]

    # Bytes first: if the transaction later fails, unreferenced blobs are orphans that
    # `evidence clean-orphans` removes; rows never point at bytes that are not there.
    _put_blobs([blob for p in new for blob in (p.record_bytes, *(a[2] for a in p.attachments))])

    subject_ids = _subject_ids({pair for p in new for pair in p.subjects})
    links = _open_links(sorted(set(subject_ids.values())), into_case)
    linked_pairs = {(case_id, sid) for sid, case_ids in links.items() for case_id in case_ids}
    case_cache: dict[int, Case] = {}
    if into_case is not None:
        case_cache[into_case.id] = into_case
    needed = {cid for ids in links.values() for cid in ids} - set(case_cache)
    if needed:
        for case in db.session.scalars(select(Case).where(Case.id.in_(sorted(needed)))):
            case_cache[case.id] = case
    flagged: set[tuple[int, int]] = set()
    if len(case_cache) > 1:
        flagged = {
            (row[0], row[1])
            for row in db.session.execute(
                select(DuplicateFlag.case_id, DuplicateFlag.duplicate_of_id).where(
                    DuplicateFlag.case_id.in_(sorted(case_cache))
                )
            )
        }

    # Correlation first (it may open cases), then every row of the batch goes in with one
    # multi-row INSERT per table: building thousands of ORM objects per batch was most of the
    # cost of ingestion. Rows that point at a finding record its position in `new` until the
    # finding ids are known. Cases the batch opens are created together once every finding
    # is placed (one flush and one audit append); until then the loop knows them by keys
    # -1, -2, ... (in the order they open) beside the ids of existing cases.
    now = utcnow()
    opening: list[FindingV1] = []  # the finding that opens each new case
    new_links: list[tuple[int, int, int]] = []  # case key, subject id, position in `new`
    new_flags: list[tuple[int, int, list[str], int]] = []  # case, duplicate of, shared, position

    def age(key: int) -> tuple[Any, ...]:  # the oldest case first; new cases after all others
        return (1, -key) if key < 0 else (0, case_cache[key].created_at, key)

    for position, p in enumerate(new):
        f = p.finding
        sids = [subject_ids[pair] for pair in p.subjects]
        candidates = {cid for sid in sids for cid in links.get(sid, ())}
        others: list[int] = []
        if into_case is not None:
            key, status = into_case.id, "attached"
        elif candidates:
            ranked = sorted(candidates, key=age)
            key, others, status = ranked[0], ranked[1:], "attached"
        else:
            opening.append(f)
            key, status = -len(opening), "created"
        for sid in sids:
            if (key, sid) not in linked_pairs:
                new_links.append((key, sid, position))
                linked_pairs.add((key, sid))
                links.setdefault(sid, set()).add(key)
        for other in others:
            if (other, key) in flagged:
                continue
            shared = sorted(
                f"{t}:{v}"
                for (t, v), sid in zip(p.subjects, sids, strict=True)
                if other in links.get(sid, ())
            )
            new_flags.append((other, key, shared, position))
            flagged.add((other, key))
        p.case_key, p.others, p.status = key, others, status  # type: ignore[attr-defined]
    if opening:
        opened = cases.open_cases(
            actor,
            [
                {
                    "title": _case_title(f),
                    "severity": f.severity,
                    "confidence": f.confidence,
                    "incident_start": f.observed_from,
                    "incident_end": f.observed_to,
                    "estimated_queries": _estimated_queries(f),
                }
                for f in opening
            ],
            ref_prefix=prefix,
        )
        case_cache.update({-number: case for number, case in enumerate(opened, start=1)})
    for p in new:
        p.case_row = case_cache[p.case_key]  # type: ignore[attr-defined]
        p.others = [case_cache[key] for key in p.others]  # type: ignore[attr-defined]
    new_links = [(case_cache[key].id, sid, position) for key, sid, position in new_links]
    new_flags = [
        (case_cache[key].id, case_cache[of].id, shared, position)
        for key, of, shared, position in new_flags
    ]

    finding_ids = _insert_findings(new, actor, now)
    item_rows = _insert_items(new, finding_ids, actor, now, channel)
    if new_links:
        db.session.execute(
            insert(CaseSubject.__table__),
            [
                {
                    "case_id": case_id,
                    "subject_id": sid,
                    "first_finding_id": finding_ids[position],
                    "linked_at": now,
                }
                for case_id, sid, position in new_links
            ],
        )
        # Core inserts bypass the flush hooks that keep case search documents current.
        search.mark_dirty(db.session(), {case_id for case_id, _sid, _pos in new_links})
    if new_flags:
        db.session.execute(
            insert(DuplicateFlag.__table__),
            [
                {
                    "case_id": case_id,
                    "duplicate_of_id": duplicate_of,
                    "finding_id": finding_ids[position],
                    "shared_subjects": shared,
                    "status": "open",
                    "created_at": now,
                    "resolved_by": None,
                    "resolved_at": None,
                    "resolution_note": None,
                }
                for case_id, duplicate_of, shared, position in new_flags
            ],
        )

    # Audit after the inserts, one event per case the batch touched (not per finding): each
    # event lists its findings with their hashes and evidence items, so every finding stays
    # traceable in the chain while a 500-finding batch writes tens of events, not hundreds.
    # They are chained in the order below and written with one INSERT (record_many).
    events: list[PendingEvent] = []
    by_case: dict[int, list[int]] = {}
    for position, p in enumerate(new):
        by_case.setdefault(p.case_row.id, []).append(position)  # type: ignore[attr-defined]
    for positions in by_case.values():
        group = [new[i] for i in positions]
        case = group[0].case_row  # type: ignore[attr-defined]
        attached = [i for i in positions if new[i].status == "attached"]  # type: ignore[attr-defined]
        if attached:
            widened = _widen_window(
                case,
                min(new[i].finding.observed_from for i in attached),
                max(new[i].finding.observed_to for i in attached),
                [finding_ids[i] for i in attached],
            )
            if widened is not None:
                events.append(widened)
        events.append(
            PendingEvent(
                "finding.ingested",
                object_type="case",
                object_id=case.id,
                case=case,
                details={
                    "channel": channel,
                    "findings": [
                        {
                            "id": finding_ids[i],
                            "detector": f"{new[i].finding.detector.name} "
                            f"v{new[i].finding.detector.version}",
                            "external_id": new[i].finding.external_id,
                            "kind": new[i].finding.kind,
                            "severity": new[i].finding.severity,
                            "content_sha256": new[i].content_sha256,
                            "items": [
                                {"id": item_id, "sha256": sha} for item_id, sha in item_rows[i]
                            ],
                        }
                        for i in positions
                    ],
                },
            )
        )
        for i in positions:
            for other in new[i].others:  # type: ignore[attr-defined]
                events.append(
                    PendingEvent(
                        "case.possible_duplicate_flagged",
                        object_type="case",
                        object_id=other.id,
                        case=other,
                        details={"duplicate_of": case.ref, "finding_id": finding_ids[i]},
                    )
                )
    record_many(events, actor=actor)
    for hook in INGEST_HOOKS:  # e.g. compliance.notices.watch.watch_new_findings
        hook(finding_ids, actor)
    for positions in by_case.values():  # new evidence on an approved case: counsel re-approves
        approval.withdraw_if_changed(new[positions[0]].case_row, actor)  # type: ignore[attr-defined]
    by_index = {p.index: (finding_ids[i], p) for i, p in enumerate(new)}
    outcomes = []
    for p in prepared:
        if p.finding.key in existing:
            stored = existing[p.finding.key]
            outcomes.append(IngestOutcome(p.index, stored.id, stored.case_ref, "duplicate"))
        else:
            finding_id, row = by_index[p.index]
            outcomes.append(
                IngestOutcome(p.index, finding_id, row.case_row.ref, row.status)  # type: ignore[attr-defined]
            )
    return outcomes


def _insert_findings(new: list[_Prepared], actor: Actor, now: datetime) -> list[int]:
    """One multi-row INSERT for the batch's findings; their ids in the order of `new`."""
    if not new:
        return []
    rows = [
        {
            "detector_name": p.finding.detector.name,
            "detector_version": p.finding.detector.version,
            "external_id": p.finding.external_id,
            "kind": p.finding.kind,
            "severity": p.finding.severity,
            "confidence": p.finding.confidence,
            "observed_from": p.finding.observed_from,
            "observed_to": p.finding.observed_to,
            "summary": p.finding.summary,
            "metrics": p.finding.metrics,
            "subjects": [{"type": s.type, "id": s.id} for s in p.finding.subjects],
            "sample_prompt_count": len(p.finding.sample_prompts),
            "content_sha256": p.content_sha256,
            "case_id": p.case_row.id,  # type: ignore[attr-defined]
            "ingested_by": actor.label,
            "ingested_at": now,
        }
        for p in new
    ]
    table = Finding.__table__
    # Each id is matched to its row by the finding's unique key. (RETURNING with
    # sort_by_parameter_order would line them up too, but on SQLite it does so by running
    # one INSERT per row: half the cost of a batch.)
    c = table.c
    result = db.session.execute(insert(table).returning(c.id, c.detector_name, c.external_id), rows)
    ids = {(name, external_id): id_ for id_, name, external_id in result}
    return [ids[p.finding.key] for p in new]


def _insert_items(
    new: list[_Prepared], finding_ids: list[int], actor: Actor, now: datetime, channel: str
) -> list[list[tuple[int, str]]]:
    """Evidence items (the record and each attachment) and their two custody events each.

    Returns, per finding of `new`, its items as (id, sha256) for the audit event.
    """
    items: list[dict[str, Any]] = []
    owner: list[int] = []  # position in `new` of each item
    for position, p in enumerate(new):
        f = p.finding
        source = f"detector {f.detector.name} v{f.detector.version}"
        blobs = [
            (
                "finding_record",
                f"{f.external_id}.json",
                "application/json",
                len(p.record_bytes),
                p.content_sha256,
            ),
            *(("attachment", n, m, len(d), sha) for n, m, d, sha in p.attachments),
        ]
        for role, name, media_type, size, sha256 in blobs:
            items.append(
                {
                    "case_id": p.case_row.id,  # type: ignore[attr-defined]
                    "finding_id": finding_ids[position],
                    "role": role,
                    "name": name,
                    "description": (
                        f"{f.kind.replace('_', ' ')} finding {f.external_id} as received"
                        if role == "finding_record"
                        else f"attachment of finding {f.external_id}"
                    ),
                    "media_type": media_type,
                    "sha256": sha256,
                    "size_bytes": size,
                    "source": source,
                    "hash_method": _HASH_METHOD,
                    "collected_at": f.observed_to,
                    "created_at": now,
                    "created_by": actor.label,
                    "supersedes_id": None,
                    "supersede_reason": None,
                }
            )
            owner.append(position)
    per_finding: list[list[tuple[int, str]]] = [[] for _ in new]
    if not items:
        return per_finding
    table = EvidenceItem.__table__
    # Ids matched to rows by content (see _insert_findings): rows alike in all of these
    # columns are alike in every column, so which of them gets which id does not matter.
    c = table.c
    returned: dict[tuple[Any, ...], list[int]] = {}
    for id_, *key in db.session.execute(
        insert(table).returning(c.id, c.finding_id, c.role, c.name, c.sha256), items
    ):
        returned.setdefault(tuple(key), []).append(id_)
    for ids in returned.values():
        ids.sort(reverse=True)  # popped from the end: ids ascend with the list, as inserted
    item_ids = [returned[(i["finding_id"], i["role"], i["name"], i["sha256"])].pop() for i in items]
    token_or_role = actor.role or ("detector token" if actor.token_id else None)
    custody: list[dict[str, Any]] = []
    for item_id, item, position in zip(item_ids, items, owner, strict=True):
        per_finding[position].append((item_id, item["sha256"]))
        f = new[position].finding
        observed = {"from": f.observed_from.isoformat(), "to": f.observed_to.isoformat()}
        # Two links per item, in this order (ids ascend with the list): the detector
        # collected it, then this actor preserved it.
        custody.append(
            {
                "item_id": item_id,
                "action": "collected",
                "actor": f"detector:{f.detector.name}/{f.detector.version}",
                "actor_name": item["source"],
                "actor_role": "detector",
                "occurred_at": f.observed_to,
                "purpose": "automated abuse detection",
                "details": {"observed": observed},
            }
        )
        custody.append(
            {
                "item_id": item_id,
                "action": "ingested",
                "actor": actor.label,
                "actor_name": actor.name,
                "actor_role": token_or_role,
                "occurred_at": now,
                "purpose": f"preserved as evidence ({channel})",
                "details": {"sha256": item["sha256"], "hash_method": "SHA-256, server-side"},
            }
        )
    db.session.execute(insert(CustodyEvent.__table__), custody)
    return per_finding


def record_rejected_batch(
    actor: Actor, channel: str, error: Exception, item_count: int | None
) -> None:
    """Record, in its own transaction, that a batch was refused (abuse investigators ask)."""
    details = getattr(error, "details", None)
    record(
        "finding.batch_rejected",
        actor=actor,
        object_type="finding_batch",
        details={
            "channel": channel,
            "items": item_count,
            "reason": getattr(error, "message", str(error))[:500],
            "problems": details[:20] if isinstance(details, list) else None,
            "problem_count": len(details) if isinstance(details, list) else None,
        },
    )


# ---------------------------------------------------------------- files uploaded by people
def _plain_name(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip()
    if not name or name.startswith(".") or len(name) > 255:
        raise InvalidInput(
            "the file needs a plain name", details={"file": "no leading dot, ≤ 255 characters"}
        )
    return name


def add_evidence_file(
    case: Case,
    actor: Actor,
    *,
    name: str,
    media_type: str,
    data: bytes,
    description: str,
    supersedes: EvidenceItem | None = None,
    reason: str | None = None,
    correspondence: bool = False,
) -> EvidenceItem:
    """Preserve a file an analyst brings (screenshots, reports); corrections supersede.

    `correspondence` marks a notice's proof of sending or a recipient's answer: preserved the
    same way, outside what an approval covers and what a packet exhibits.
    """
    require_permission(actor, "evidence.add")
    name = _plain_name(name)
    description = (description or "").strip()
    errors: dict[str, str] = {}
    if not description:
        errors["description"] = "say what the file is and where it came from"
    if not data:
        errors["file"] = "the file is empty"
    if len(data) > current_app.config["MAX_ATTACHMENT_BYTES"]:
        errors["file"] = f"larger than {current_app.config['MAX_ATTACHMENT_BYTES']} bytes"
    if supersedes is not None:
        if supersedes.case_id != case.id:
            errors["supersedes"] = "the corrected item belongs to another case"
        elif superseded_ids([supersedes.id]):
            errors["supersedes"] = f"item {supersedes.id} is already superseded"
        if not (reason or "").strip():
            errors["reason"] = "a correction needs a reason"
    if errors:
        raise InvalidInput("the evidence file was not added", details=errors)
    (sha256,) = _put_blobs([data])
    now = utcnow()
    item = EvidenceItem(
        case=case,
        role="correspondence" if correspondence else "upload",
        name=name,
        description=description,
        media_type=(media_type or "application/octet-stream")[:150],
        sha256=sha256,
        size_bytes=len(data),
        source=f"uploaded by {actor.name or actor.label}",
        collected_at=now,
        created_at=now,
        created_by=actor.label,
        supersedes=supersedes,
        supersede_reason=(reason or "").strip() or None,
    )
    db.session.add(item)
    _custody(
        item,
        "ingested",
        actor.label,
        actor.name,
        actor.role,
        "uploaded on the case page",
        details={"sha256": sha256, "hash_method": "SHA-256, server-side"},
    )
    if supersedes is not None:
        _custody(
            supersedes,
            "superseded",
            actor.label,
            actor.name,
            actor.role,
            (reason or "").strip(),
            details={"superseded_by_sha256": sha256},
        )
    db.session.flush()
    record(
        "evidence.superseded" if supersedes else "evidence.added",
        actor=actor,
        object_type="evidence_item",
        object_id=item.id,
        case=case,
        details={
            "name": name,
            "sha256": sha256,
            "size": len(data),
            "supersedes": supersedes.id if supersedes else None,
            "reason": item.supersede_reason,
        },
    )
    if not correspondence:
        approval.withdraw_if_changed(case, actor)
    return item


def superseded_ids(item_ids: list[int]) -> set[int]:
    """Which of these items a later item corrects."""
    if not item_ids:
        return set()
    return set(
        db.session.scalars(
            select(EvidenceItem.supersedes_id).where(EvidenceItem.supersedes_id.in_(item_ids))
        )
    )


def get_item(case: Case, item_id: int) -> EvidenceItem:
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.case_id != case.id:
        raise NotFound(f"no evidence item {item_id} in {case.ref}")
    return item


def record_view(item: EvidenceItem, actor: Actor) -> None:
    """Opening an item's page is a custody event (who looked at the evidence, when)."""
    require_permission(actor, "case.view")
    record_custody(item, actor, "viewed", "reviewed on the case page")


def download_item(item: EvidenceItem, actor: Actor, purpose: str) -> bytes:
    """The item's bytes, checked against their hash; records custody and an audit event."""
    require_permission(actor, "evidence.download")
    purpose = (purpose or "").strip()
    if not purpose:
        raise InvalidInput("say why you download this item", details={"purpose": "required"})
    try:
        data = checked_bytes(blob_store(), item.sha256)
    except BlobDamaged as damage:
        raise Conflict(
            f"evidence item {item.id} is {damage.status} in the store (sha256={item.sha256}); "
            "run `compliance evidence verify`"
        ) from None
    record_custody(item, actor, "downloaded", purpose)  # custody and audit, one each
    return data


# ---------------------------------------------------------------- verification and orphans
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


# ---------------------------------------------------------------- cases and their subjects
def evidence_count(case: Case) -> int:
    """Evidence items of the case that no later item supersedes."""
    corrected = select(EvidenceItem.supersedes_id).where(EvidenceItem.supersedes_id.is_not(None))
    return (
        db.session.scalar(
            select(func.count())
            .select_from(EvidenceItem)
            .where(EvidenceItem.case_id == case.id, EvidenceItem.id.not_in(corrected))
        )
        or 0
    )


@dataclass
class SubjectView:
    subject: Any  # a row with the subject's id, type and value
    other_cases: list[Any]  # rows with the case's ref and state: all the tab shows of them


def case_subjects(case: Case) -> list[SubjectView]:
    """The case's subjects, each with the other cases that share it (two queries).

    A campaign's payment fingerprint is shared by dozens of cases: only the columns shown are
    read, not whole cases with their owners.
    """
    subjects = db.session.execute(
        select(Subject.id, Subject.type, Subject.value)
        .join(CaseSubject, CaseSubject.subject_id == Subject.id)
        .where(CaseSubject.case_id == case.id)
        .order_by(CaseSubject.id)
    ).all()
    shared: dict[int, list[Any]] = {}
    for chunk in chunked([subject.id for subject in subjects]):
        rows = db.session.execute(
            select(CaseSubject.subject_id, Case.id, Case.ref, Case.state)
            .join(Case, Case.id == CaseSubject.case_id)
            .where(CaseSubject.subject_id.in_(chunk), CaseSubject.case_id != case.id)
            .order_by(Case.id)
        )
        for row in rows:
            shared.setdefault(row.subject_id, []).append(row)
    return [SubjectView(subject, shared.get(subject.id, [])) for subject in subjects]


def duplicate_flags(case: Case) -> list[DuplicateFlag]:
    """Open possible-duplicate flags that involve the case, either side."""
    return list(
        db.session.scalars(
            select(DuplicateFlag)
            .where(
                (DuplicateFlag.case_id == case.id) | (DuplicateFlag.duplicate_of_id == case.id),
                DuplicateFlag.status == "open",
            )
            .order_by(DuplicateFlag.id)
        )
    )


def resolve_duplicate(flag: DuplicateFlag, actor: Actor, merge: bool, note: str) -> DuplicateFlag:
    """Merge the flagged case into the older one, or record that the two are distinct.

    Merging goes through the cases' one merge operation: findings, evidence and subject
    links move to the older case; both cases keep their whole audit history.
    """
    note = (note or "").strip()
    if not note:
        raise InvalidInput("say why", details={"note": "required"})
    if flag.status != "open":
        raise Conflict(f"this flag was already resolved ({flag.status})")
    source, target = flag.case, flag.duplicate_of
    if merge:
        retention.merge_cases(source, target, actor, f"possible duplicate confirmed: {note}")
    else:
        require_permission(actor, "case.edit")
    flag.status = "merged" if merge else "distinct"
    flag.resolved_by, flag.resolved_at, flag.resolution_note = actor.label, utcnow(), note
    db.session.flush()
    record(
        "case.duplicate_resolved",
        actor=actor,
        object_type="case",
        object_id=source.id,
        case=source,
        details={"duplicate_of": target.ref, "resolution": flag.status, "note": note},
    )
    return flag


def _before_merge(source: Case, target: Case, actor: Actor) -> dict[str, int]:
    """Drop the source's subject links the target already has (the rest move generically)."""
    already = select(CaseSubject.subject_id).where(CaseSubject.case_id == target.id)
    result = db.session.execute(
        delete(CaseSubject).where(
            CaseSubject.case_id == source.id, CaseSubject.subject_id.in_(already)
        )
    )
    return {"case_subjects (already on target)": result.rowcount or 0}


retention.merge_hooks.append(_before_merge)


def get_flag(flag_id: int) -> DuplicateFlag:
    flag = db.session.get(DuplicateFlag, flag_id)
    if flag is None:
        raise NotFound(f"no duplicate flag {flag_id}")
    return flag


def open_flags_for(case_ids: list[int]) -> list[DuplicateFlag]:
    """Open possible-duplicate flags on any of these (newer, flagged) cases."""
    if not case_ids:
        return []
    return list(
        db.session.scalars(
            select(DuplicateFlag).where(
                DuplicateFlag.case_id.in_(case_ids), DuplicateFlag.status == "open"
            )
        )
    )
