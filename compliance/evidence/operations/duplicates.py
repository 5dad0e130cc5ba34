"""Cases that share subjects: the subjects tab, possible-duplicate flags and their resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from compliance.audit.chain import record
from compliance.auth.actor import Actor
from compliance.auth.permissions import require_permission
from compliance.cases import retention
from compliance.cases.models import Case
from compliance.db import chunked, utcnow
from compliance.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from compliance.evidence.models import (
    CaseSubject,
    DuplicateFlag,
    Subject,
)
from compliance.extensions import db


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
