"""Cases that share subjects: the subjects tab, possible-duplicate flags and their resolution."""

from __future__ import annotations

from sqlalchemy import delete, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases import retention
from compliance.cases.models import Case, CaseSubject
from compliance.db import utcnow
from compliance.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from compliance.evidence.models import DuplicateFlag
from compliance.extensions import db


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


def drop_shared_subject_links(source: Case, target: Case, actor: Actor) -> dict[str, int]:
    """Merge hook: drop the source's subject links the target already has (the rest move
    generically)."""
    already = select(CaseSubject.subject_id).where(CaseSubject.case_id == target.id)
    result = db.session.execute(
        delete(CaseSubject).where(
            CaseSubject.case_id == source.id, CaseSubject.subject_id.in_(already)
        )
    )
    return {"case_subjects (already on target)": result.rowcount or 0}


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
