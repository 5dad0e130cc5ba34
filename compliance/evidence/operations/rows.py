"""The batch's rows, written with one multi-row INSERT per table (findings, items, custody)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert

from compliance.actor import Actor
from compliance.cases import search
from compliance.cases.models import CaseSubject
from compliance.evidence.models import CustodyEvent, DuplicateFlag, EvidenceItem, Finding
from compliance.evidence.operations.placement import BatchPlacement, Placement
from compliance.extensions import db

_HASH_METHOD = EvidenceItem.__table__.c.hash_method.default.arg  # the model's wording


def insert_findings(new: list[Placement], actor: Actor, now: datetime) -> list[int]:
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
            "content_sha256": p.prepared.content_sha256,
            "case_id": p.case.id,
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


def insert_items(
    new: list[Placement], finding_ids: list[int], actor: Actor, now: datetime, channel: str
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
                len(p.prepared.record_bytes),
                p.prepared.content_sha256,
            ),
            *(("attachment", n, m, len(d), sha) for n, m, d, sha in p.prepared.attachments),
        ]
        for role, name, media_type, size, sha256 in blobs:
            items.append(
                {
                    "case_id": p.case.id,
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
    # Ids matched to rows by content (see insert_findings): rows alike in all of these
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
    custody: list[dict[str, Any]] = []
    for item_id, item, position in zip(item_ids, items, owner, strict=True):
        per_finding[position].append((item_id, item["sha256"]))
        custody.extend(_custody_rows(item_id, item, new[position], actor, now, channel))
    db.session.execute(insert(CustodyEvent.__table__), custody)
    return per_finding


def _custody_rows(
    item_id: int, item: dict[str, Any], placed: Placement, actor: Actor, now: datetime, channel: str
) -> list[dict[str, Any]]:
    """Two custody links per item, in this order (ids ascend with the list): the detector
    collected it, then this actor preserved it."""
    f = placed.finding
    observed = {"from": f.observed_from.isoformat(), "to": f.observed_to.isoformat()}
    return [
        {
            "item_id": item_id,
            "action": "collected",
            "actor": f"detector:{f.detector.name}/{f.detector.version}",
            "actor_name": item["source"],
            "actor_role": "detector",
            "occurred_at": f.observed_to,
            "purpose": "automated abuse detection",
            "details": {"observed": observed},
        },
        {
            "item_id": item_id,
            "action": "ingested",
            "actor": actor.label,
            "actor_name": actor.name,
            "actor_role": actor.role or ("detector token" if actor.token_id else None),
            "occurred_at": now,
            "purpose": f"preserved as evidence ({channel})",
            "details": {"sha256": item["sha256"], "hash_method": "SHA-256, server-side"},
        },
    ]


def insert_links_and_flags(placed: BatchPlacement, finding_ids: list[int], now: datetime) -> None:
    """Stage 5 (with the findings and items): new case-subject links and duplicate flags."""
    if placed.links:
        db.session.execute(
            insert(CaseSubject.__table__),
            [
                {
                    "case_id": case_id,
                    "subject_id": sid,
                    "first_finding_id": finding_ids[position],
                    "linked_at": now,
                }
                for case_id, sid, position in placed.links
            ],
        )
        # Core inserts bypass the flush hooks that keep case search documents current.
        search.mark_dirty(db.session(), {case_id for case_id, _sid, _pos in placed.links})
    if placed.flags:
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
                for case_id, duplicate_of, shared, position in placed.flags
            ],
        )
