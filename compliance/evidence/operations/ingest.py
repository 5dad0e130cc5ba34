"""Ingesting findings: the single way findings enter the system (API, CLI, upload form).

A batch is all-or-nothing: everything is validated and checked against stored findings before
the first blob is written, and rows are only flushed into the caller's transaction.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app

from compliance.actor import Actor
from compliance.audit.chain import PendingEvent, record, record_many
from compliance.auth.permissions import can
from compliance.cases import approval
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import (
    BatchTooLarge,
    Conflict,
    InsufficientStorage,
    InvalidInput,
    PermissionDenied,
)
from compliance.evidence.operations.placement import (
    Placement,
    Prepared,
    Stored,
    existing_findings,
    place,
    widen_window,
)
from compliance.evidence.operations.rows import (
    insert_findings,
    insert_items,
    insert_links_and_flags,
)
from compliance.evidence.schema import FindingV1, validate_batch
from compliance.evidence.store import blob_store

# Other domains' reactions to newly stored findings (compliance.hooks connects them): each is
# called with the new finding ids and the actor, inside the ingest's transaction.
findings_stored_hooks: list[Callable[[list[int], Actor], Any]] = []


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
) -> Prepared:
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
    return Prepared(
        index=index,
        finding=finding,
        record_bytes=record_bytes,
        content_sha256=hashlib.sha256(record_bytes).hexdigest(),
        attachments=attachments,
        subjects=subjects,
    )


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
    """The stages of a batch: validate, refuse conflicts, store blobs, place, insert, audit."""
    config = current_app.config
    prepared = _validate(batch, actor, max_attachment_bytes or config["MAX_ATTACHMENT_BYTES"])
    existing = existing_findings([p.finding.key for p in prepared])
    _refuse_conflicts(prepared, existing)
    new = [p for p in prepared if p.finding.key not in existing]
    # Bytes first: if the transaction later fails, unreferenced blobs are orphans that
    # `evidence clean-orphans` removes; rows never point at bytes that are not there.
    _put_blobs([blob for p in new for blob in (p.record_bytes, *(a[2] for a in p.attachments))])
    now = utcnow()
    batch_placement = place(new, actor, into_case, ref_prefix or config["CASE_REF_PREFIX"])
    placements = batch_placement.placements
    finding_ids = insert_findings(placements, actor, now)
    item_rows = insert_items(placements, finding_ids, actor, now, channel)
    insert_links_and_flags(batch_placement, finding_ids, now)
    _audit(placements, finding_ids, item_rows, actor, channel)
    return _outcomes(prepared, existing, placements, finding_ids)


def _validate(batch: Any, actor: Actor, attachment_limit: int) -> list[Prepared]:
    """Stage 1: who may send, the batch's shape and size, and every finding's schema."""
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
    most = current_app.config["MAX_BATCH_ITEMS"]
    if len(batch) > most:
        raise BatchTooLarge(
            f"the batch holds {len(batch):,} findings; at most {most:,} "
            "per batch (send the rest in another batch)"
        )
    findings, errors = validate_batch(batch, attachment_limit)
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
    return [_prepare(i, batch[i], f, spellings) for i, f in enumerate(findings)]


def _refuse_conflicts(prepared: list[Prepared], existing: dict[tuple[str, str], Stored]) -> None:
    """Stage 2: a finding resent with different content is refused (the whole batch)."""
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


def _audit(
    placements: list[Placement],
    finding_ids: list[int],
    item_rows: list[list[tuple[int, str]]],
    actor: Actor,
    channel: str,
) -> None:
    """Stage 6: one event per case the batch touched (not per finding), then re-approval.

    Each event lists its findings with their hashes and evidence items, so every finding stays
    traceable in the chain while a 500-finding batch writes tens of events, not hundreds.
    They are chained in the order below and written with one INSERT (record_many).
    """
    events: list[PendingEvent] = []
    by_case: dict[int, list[int]] = {}
    for position, placed in enumerate(placements):
        by_case.setdefault(placed.case.id, []).append(position)
    for positions in by_case.values():
        case = placements[positions[0]].case
        attached = [placements[i] for i in positions if placements[i].status == "attached"]
        if attached:
            widened = widen_window(
                case,
                min(placed.finding.observed_from for placed in attached),
                max(placed.finding.observed_to for placed in attached),
                [finding_ids[i] for i in positions if placements[i].status == "attached"],
            )
            if widened is not None:
                events.append(widened)
        events.append(_ingested_event(case, placements, positions, finding_ids, item_rows, channel))
        for i in positions:
            for other in placements[i].others:
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
    for hook in findings_stored_hooks:  # connected in compliance.hooks (the re-upload watch)
        hook(finding_ids, actor)
    for positions in by_case.values():  # new evidence on an approved case: counsel re-approves
        approval.withdraw_if_changed(placements[positions[0]].case, actor)


def _ingested_event(
    case: Case,
    placements: list[Placement],
    positions: list[int],
    finding_ids: list[int],
    item_rows: list[list[tuple[int, str]]],
    channel: str,
) -> PendingEvent:
    """The `finding.ingested` event of one case: its new findings, their hashes and items."""
    findings = []
    for i in positions:
        f = placements[i].finding
        findings.append(
            {
                "id": finding_ids[i],
                "detector": f"{f.detector.name} v{f.detector.version}",
                "external_id": f.external_id,
                "kind": f.kind,
                "severity": f.severity,
                "content_sha256": placements[i].prepared.content_sha256,
                "items": [{"id": item_id, "sha256": sha} for item_id, sha in item_rows[i]],
            }
        )
    return PendingEvent(
        "finding.ingested",
        object_type="case",
        object_id=case.id,
        case=case,
        details={"channel": channel, "findings": findings},
    )


def _outcomes(
    prepared: list[Prepared],
    existing: dict[tuple[str, str], Stored],
    placements: list[Placement],
    finding_ids: list[int],
) -> list[IngestOutcome]:
    """What happened to each finding of the batch, in the order sent."""
    by_index = {
        placed.prepared.index: (finding_ids[i], placed) for i, placed in enumerate(placements)
    }
    outcomes = []
    for p in prepared:
        if p.finding.key in existing:
            stored = existing[p.finding.key]
            outcomes.append(IngestOutcome(p.index, stored.id, stored.case_ref, "duplicate"))
        else:
            finding_id, placed = by_index[p.index]
            outcomes.append(IngestOutcome(p.index, finding_id, placed.case.ref, placed.status))
    return outcomes


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
