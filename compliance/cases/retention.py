"""Deleting and merging cases without losing a line of their audit history.

Audit events have no foreign key to cases and keep the `case_ref` they were written with, so
neither deletion nor merging touches them. A merge moves the source's records to the target,
closes the source with a pointer to the target, and records the merge on both; the target's
history then covers every ref merged into it (`history_refs`).

Other capabilities whose tables reference `cases.id` are moved generically (every foreign key
to `cases.id` in the metadata is re-pointed). A table that needs more than that (a unique
constraint that would collide, an append-only table) registers a function in `merge_hooks`
(called before the generic move) or `delete_hooks` (called before a case row is deleted).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Table, select, update

from compliance.actor import Actor
from compliance.audit.chain import diff, record
from compliance.auth.permissions import require_permission
from compliance.cases.approval import withdraw_if_changed
from compliance.cases.models import Case, CaseMerge, CaseTransition
from compliance.cases.operations import place_hold
from compliance.cases.workflow import MERGE
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, WorkflowRefused
from compliance.extensions import db

# (source, target, actor) -> {table name: rows moved}; runs before the generic re-pointing.
merge_hooks: list[Callable[[Case, Case, Actor], dict[str, int]]] = []
# (case, actor) -> None; runs before the case row is deleted (e.g. to archive or detach rows).
delete_hooks: list[Callable[[Case, Actor], None]] = []
# Tables that must never be re-pointed (their rows are history, not case content).
# (Search documents are rebuilt after a merge by compliance.cases.search, never re-pointed.)
NEVER_MOVED = {"case_merges", "case_transitions", "case_search"}


def history_refs(ref: str) -> list[str]:
    """The case's own ref and every ref merged into it, directly or through earlier merges."""
    refs, frontier = [ref], [ref]
    while frontier:
        found = db.session.scalars(
            select(CaseMerge.source_ref).where(CaseMerge.target_ref.in_(frontier))
        ).all()
        frontier = [r for r in found if r not in refs]
        refs.extend(frontier)
    return refs


def _case_foreign_keys() -> list[tuple[Table, str]]:
    """Every (table, column) in the metadata with a foreign key to cases.id."""
    found = []
    for table in db.metadata.sorted_tables:
        if table.name in NEVER_MOVED or table.name == "cases":
            continue
        for column in table.columns:
            if any(fk.column.table.name == "cases" for fk in column.foreign_keys):
                found.append((table, column.name))
    return found


def merge_cases(source: Case, target: Case, actor: Actor, reason: str) -> CaseMerge:
    """Fold `source` into `target`: its records move, both histories stay readable.

    The one place a merge is decided, whichever door it comes through (CLI, a possible
    duplicate resolved on the Evidence tab): counsel only, with a reason, from and to the
    states `workflow.MERGE` allows. The source is closed with the outcome "Merged into ..."
    and can never be reopened (`workflow.not_merged`); its transition history stays its own.
    """
    require_permission(actor, "case.merge")
    reason = _checked_merge(source, target, (reason or "").strip())
    moved = _move_records(source, target, actor)
    if source.legal_hold and not target.legal_hold:
        # The held records now live on the target: the hold must follow them.
        place_hold(
            target, actor, f"inherited from {source.ref} on merge: {source.legal_hold_reason}"
        )
    before = source.snapshot()
    _close_source(source, target, actor, reason)
    merge = CaseMerge(
        source_id=source.id,
        source_ref=source.ref,
        target_id=target.id,
        target_ref=target.ref,
        reason=reason,
        merged_by=actor.label,
    )
    db.session.add(merge)
    db.session.flush()
    _record_merge(source, target, actor, before, {"reason": reason, "moved": moved})
    withdraw_if_changed(target, actor)  # the source's evidence and clauses are new to it
    return merge


def _checked_merge(source: Case, target: Case, reason: str) -> str:
    """The merge's reason, once the merge is known to be allowed (raises otherwise)."""
    if not reason:
        raise InvalidInput("a merge needs a reason", details={"reason": "required"})
    if source.id == target.id:
        raise InvalidInput("a case cannot be merged into itself")
    if db.session.scalar(select(CaseMerge.id).where(CaseMerge.source_id == source.id)):
        raise Conflict(f"{source.ref} has already been merged")
    blockers = MERGE.blockers(source, target)  # the workflow's definition of the move
    if blockers:
        raise WorkflowRefused("; ".join(blockers))
    return reason


def _move_records(source: Case, target: Case, actor: Actor) -> dict[str, int]:
    """Re-point the source's rows to the target: the merge hooks, then every foreign key.

    Returns the rows moved by table name.
    """
    moved: dict[str, int] = {}
    for hook in merge_hooks:
        moved.update(hook(source, target, actor))
    for table, column in _case_foreign_keys():
        result = db.session.execute(
            update(table).where(table.c[column] == source.id).values({column: target.id})
        )
        if result.rowcount:
            moved[table.name] = moved.get(table.name, 0) + result.rowcount
    # The bulk updates bypassed the identity map: reload both cases' collections.
    db.session.expire(source)
    db.session.expire(target)
    return moved


def _close_source(source: Case, target: Case, actor: Actor, reason: str) -> None:
    """Close the merged-away case, its outcome and its last transition naming the target."""
    source_state = source.state
    source.state = "closed"
    source.outcome = f"Merged into {target.ref}: {reason}"
    db.session.add(
        CaseTransition(
            case=source,
            from_state=source_state,
            to_state="closed",
            actor=actor.label,
            actor_name=actor.name,
            actor_user_id=actor.user_id,
            reason=f"merged into {target.ref}: {reason}",
        )
    )


def _record_merge(
    source: Case, target: Case, actor: Actor, before: dict[str, Any], facts: dict[str, Any]
) -> None:
    """The merge's audit events: one on each case, so both histories show it."""
    details = {"source": source.ref, "target": target.ref, **facts}
    record(
        "case.merged_into",
        actor=actor,
        object_type="case",
        object_id=source.id,
        case=source,
        changes=diff(before, source.snapshot()),
        details=details,
    )
    record(
        "case.merged",
        actor=actor,
        object_type="case",
        object_id=target.id,
        case=target,
        details=details,
    )


def closed_at(case: Case) -> datetime | None:
    """When the case last entered closed or dismissed (None while it is open)."""
    if case.is_open:
        return None
    return db.session.scalar(
        select(CaseTransition.occurred_at)
        .where(CaseTransition.case_id == case.id, CaseTransition.to_state == case.state)
        .order_by(CaseTransition.id.desc())
        .limit(1)
    )


def deletable_from(case: Case, retention_days: int | None = None) -> datetime | None:
    """The first moment the case may be deleted, or None while it is open."""
    ended = closed_at(case)
    if ended is None:
        return None
    days = retention_days if retention_days is not None else current_app.config["RETENTION_DAYS"]
    return ended + timedelta(days=days)


def delete_case(
    case: Case, actor: Actor, now: datetime | None = None, retention_days: int | None = None
) -> None:
    """Delete a closed or dismissed case after its retention period; its audit events remain."""
    require_permission(actor, "case.delete")
    if case.legal_hold:
        raise WorkflowRefused(f"{case.ref} is under legal hold: release the hold first")
    when = deletable_from(case, retention_days)
    if when is None:
        raise WorkflowRefused(f"{case.ref} is {case.state}: only closed or dismissed cases")
    now = now or utcnow()
    if now < when:
        raise WorkflowRefused(
            f"{case.ref} is within its retention period until {when:%Y-%m-%d} (UTC)"
        )
    for hook in delete_hooks:
        hook(case, actor)
    record(
        "case.deleted",
        actor=actor,
        object_type="case",
        object_id=case.id,
        case=case,
        changes=diff(case.snapshot(), {}),
        details={"ref": case.ref, "title": case.title, "closed_at": closed_at(case)},
    )
    db.session.delete(case)
    db.session.flush()
