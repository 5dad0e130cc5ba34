"""Files people bring to a case (screenshots, reports) and corrections that supersede items."""

from __future__ import annotations

import os

from flask import current_app
from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases import approval
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import (
    InvalidInput,
)
from compliance.evidence.models import (
    EvidenceItem,
)
from compliance.evidence.operations.custody import _custody
from compliance.evidence.operations.ingest import _put_blobs
from compliance.extensions import db


def _plain_name(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip()
    if not name or name.startswith(".") or len(name) > 255:
        raise InvalidInput(
            "the file needs a plain name", details={"file": "no leading dot, ≤ 255 characters"}
        )
    return name


def _check_upload(
    case: Case,
    data: bytes,
    description: str,
    supersedes: EvidenceItem | None,
    reason: str | None,
) -> None:
    """Refuse (all problems at once) a file that is empty, too large, unexplained, or a
    correction of an item it may not correct."""
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
    _check_upload(case, data, description, supersedes, reason)
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


def covered_evidence(case: Case) -> dict[str, str]:
    """The evidence an approval of `case` covers: each item's SHA-256 by its id.

    The "evidence" section of `cases.approval.approval_content`. Correspondence (a notice's
    proof of sending, a recipient's answer) is kept but never approved; an item a later one
    corrects gives way to the correction.
    """
    items = list(
        db.session.execute(
            select(EvidenceItem.id, EvidenceItem.sha256)
            .where(EvidenceItem.case_id == case.id, EvidenceItem.role != "correspondence")
            .order_by(EvidenceItem.id)
        )
    )
    replaced = superseded_ids([item_id for item_id, _sha in items])
    return {str(item_id): sha for item_id, sha in items if item_id not in replaced}


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
