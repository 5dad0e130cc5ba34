"""Citing clauses against cases and withdrawing citations, and what the case, clause and
readiness pages ask about them."""

from __future__ import annotations

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases.approval import withdraw_if_changed
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, WorkflowRefused
from compliance.evidence.models import EvidenceItem
from compliance.extensions import db
from compliance.policies.models import ClauseCitation, PolicyClause
from compliance.policies.operations.in_force import (
    Window,
    incident_window,
    is_in_force,
    versions_in_force,
)

MAX_NOTE_LENGTH = 10_000


def citations_for_case(case: Case, include_removed: bool = False) -> list[ClauseCitation]:
    query = select(ClauseCitation).where(ClauseCitation.case_id == case.id)
    if not include_removed:
        query = query.where(ClauseCitation.removed_at.is_(None))
    return list(db.session.scalars(query.order_by(ClauseCitation.cited_at, ClauseCitation.id)))


def covered_clauses(case: Case) -> dict[str, str]:
    """The clauses an approval of `case` covers: each citation, as a packet states it, by id.

    The "clauses" section of `cases.approval.approval_content`; withdrawn citations are out.
    """
    return {str(citation.id): citation.citation() for citation in citations_for_case(case)}


def active_citation_count(case: Case) -> int:
    return db.session.scalar(
        select(func.count(ClauseCitation.id)).where(
            ClauseCitation.case_id == case.id, ClauseCitation.removed_at.is_(None)
        )
    )


def cases_citing(clause: PolicyClause) -> list[tuple[Case, ClauseCitation]]:
    """Cases with an active citation of this clause version, newest citation first."""
    rows = db.session.execute(
        select(Case, ClauseCitation)
        .join(ClauseCitation, ClauseCitation.case_id == Case.id)
        .where(ClauseCitation.clause_id == clause.id, ClauseCitation.removed_at.is_(None))
        .order_by(ClauseCitation.cited_at.desc())
    ).all()
    return [(row[0], row[1]) for row in rows]


def evidence_choices(case: Case) -> list[tuple[int, str]]:
    """The case's evidence items, as (id, label), for citing a clause against one of them."""
    items = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == case.id).order_by(EvidenceItem.id)
    )
    return [(item.id, f"#{item.id} {item.name} (sha256 {item.sha256[:12]}…)") for item in items]


def _check_evidence_item(case: Case, item_id: int) -> None:
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.case_id != case.id:
        raise InvalidInput(
            f"evidence item {item_id} is not part of {case.ref}",
            details={"evidence_item_id": "choose an evidence item of this case"},
        )


def cite_clause(
    case: Case,
    actor: Actor,
    clause: PolicyClause,
    note: str,
    *,
    evidence_item_id: int | None = None,
    override_reason: str | None = None,
) -> ClauseCitation:
    """Link a clause version to the case, saying how the conduct breaks it.

    The version must have been in force during the incident window; citing another version
    needs an explicit override reason, which is stored and audited.
    """
    require_permission(actor, "clause.link")
    if not case.is_open:
        raise WorkflowRefused(f"{case.ref} is {case.state}: reopen it before citing clauses")
    note = _citation_note(note)
    if evidence_item_id is not None:
        _check_evidence_item(case, evidence_item_id)
    _refuse_duplicate(case, clause, evidence_item_id)
    window = incident_window(case)
    in_force, override_reason = _in_force_or_overridden(clause, window, override_reason)
    citation = ClauseCitation(
        case_id=case.id,
        clause=clause,
        evidence_item_id=evidence_item_id,
        note=note,
        in_force=in_force,
        override_reason=None if in_force else override_reason,
        cited_by=actor.label,
        cited_by_name=actor.name,
        cited_by_user_id=actor.user_id,
    )
    db.session.add(citation)
    db.session.flush()
    record(
        "clause.cited",
        actor=actor,
        object_type="clause_citation",
        object_id=citation.id,
        case=case,
        details={
            "citation": clause.citation(),
            "reference": clause.reference,
            "clause_id": clause.id,
            "version_sha256": clause.version.sha256,
            "evidence_item_id": evidence_item_id,
            "note": note,
            "window": str(window) if window.from_case else None,
            "in_force": in_force,
            "override_reason": citation.override_reason,
        },
    )
    withdraw_if_changed(case, actor)
    return citation


def _citation_note(note: str | None) -> str:
    """The note, trimmed; a citation must say how the conduct breaks the clause."""
    note = (note or "").strip()
    errors = {}
    if not note:
        errors["note"] = "say how the conduct breaks this clause"
    elif len(note) > MAX_NOTE_LENGTH:
        errors["note"] = f"at most {MAX_NOTE_LENGTH} characters"
    if errors:
        raise InvalidInput("the citation is not complete", details=errors)
    return note


def _refuse_duplicate(case: Case, clause: PolicyClause, evidence_item_id: int | None) -> None:
    """One active citation of a clause per case and evidence item (or per case, without one)."""
    duplicate = db.session.scalar(
        select(ClauseCitation.id).where(
            ClauseCitation.case_id == case.id,
            ClauseCitation.clause_id == clause.id,
            ClauseCitation.removed_at.is_(None),
            ClauseCitation.evidence_item_id.is_(None)
            if evidence_item_id is None
            else ClauseCitation.evidence_item_id == evidence_item_id,
        )
    )
    if duplicate is not None:
        raise Conflict(f"{clause.citation()} is already cited against {case.ref}")


def _in_force_or_overridden(
    clause: PolicyClause, window: Window, override_reason: str | None
) -> tuple[bool, str | None]:
    """Whether the clause's version was in force in the window, and the trimmed override
    reason; a version not in force is refused without a reason."""
    in_force = is_in_force(clause, window)
    override_reason = (override_reason or "").strip() or None
    if not in_force and not override_reason:
        in_force_labels = ", ".join(
            v.label for v in versions_in_force(clause.version.document, window)
        )
        raise InvalidInput(
            f"{clause.citation()} was not in force during the incident window ({window}); "
            f"in force: {in_force_labels or 'no version'}. Cite the version in force, or "
            "override with a reason",
            details={"override_reason": "a reason is required to cite a version not in force"},
        )
    return in_force, override_reason


def get_citation(case: Case, citation_id: int) -> ClauseCitation:
    citation = db.session.get(ClauseCitation, citation_id)
    if citation is None or citation.case_id != case.id:
        raise NotFound(f"no clause citation {citation_id} on {case.ref}")
    return citation


def withdraw_citation(case: Case, actor: Actor, citation: ClauseCitation, reason: str) -> None:
    """Withdraw a citation; it stays on record with who withdrew it and why."""
    require_permission(actor, "clause.link")
    if citation.case_id != case.id:
        raise NotFound(f"no clause citation {citation.id} on {case.ref}")
    if not case.is_open:
        raise WorkflowRefused(f"{case.ref} is {case.state}: reopen it before changing citations")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the citation is withdrawn", details={"reason": "required"})
    if citation.removed_at is not None:
        raise Conflict(f"{citation.citation()} was already withdrawn from {case.ref}")
    citation.removed_at = utcnow()
    citation.removed_by = actor.label
    citation.removal_reason = reason
    db.session.flush()
    record(
        "clause.uncited",
        actor=actor,
        object_type="clause_citation",
        object_id=citation.id,
        case=case,
        details={"citation": citation.citation(), "reason": reason},
    )
    withdraw_if_changed(case, actor)
