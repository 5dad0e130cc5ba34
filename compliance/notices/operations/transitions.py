"""The notice's own workflow: its moves (who may make which, what each needs), the
recipient's answers that change nothing, and who follows the notice up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, PermissionDenied, WorkflowRefused
from compliance.extensions import db
from compliance.notices.models import NOTICE_STATES, OUTCOMES, Notice, NoticeEvent
from compliance.notices.operations.events import (
    ANALYST_OR_COUNSEL,
    COUNSEL,
    Upload,
    _as_datetime,
    _event,
    _store_upload,
)


@dataclass(frozen=True)
class NoticeTransition:
    """One move of a notice: from which states, to which, who may, what it needs."""

    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    label: str
    needs_outcome: bool = False
    needs_reason: bool = False
    needs_date: bool = False  # the date the recipient's step happened (a counter-notice's)
    only_after_outcomes: tuple[str, ...] = field(default=())  # from `resolved`: these outcomes


NOTICE_TRANSITIONS: tuple[NoticeTransition, ...] = (
    NoticeTransition(("sent",), "acknowledged", ANALYST_OR_COUNSEL, "Record acknowledgment"),
    NoticeTransition(
        ("sent", "acknowledged"),
        "resolved",
        ANALYST_OR_COUNSEL,
        "Record resolution",
        needs_outcome=True,
    ),
    # A counter-notice follows a removal: while the notice is open, or after it was resolved
    # by removing or disabling the material.
    NoticeTransition(
        ("sent", "acknowledged", "resolved"),
        "counter_notice_received",
        COUNSEL,
        "Record counter-notice",
        needs_date=True,
        only_after_outcomes=("removed", "disabled"),
    ),
    NoticeTransition(
        ("counter_notice_received",), "restored", ANALYST_OR_COUNSEL, "Record restoration"
    ),
    NoticeTransition(
        ("counter_notice_received",), "suit_filed", COUNSEL, "Record suit filed", needs_reason=True
    ),
    NoticeTransition(
        ("sent", "acknowledged", "counter_notice_received"),
        "withdrawn",
        COUNSEL,
        "Withdraw notice",
        needs_reason=True,
    ),
)


def find_notice_transition(source: str, target: str) -> NoticeTransition | None:
    return next((t for t in NOTICE_TRANSITIONS if source in t.sources and t.target == target), None)


def notice_options(notice: Notice, actor: Actor) -> list[NoticeTransition]:
    """The moves this actor may make on the notice now."""
    return [
        t
        for t in NOTICE_TRANSITIONS
        if notice.state in t.sources and actor.has_role(*t.roles) and _blocker(notice, t) is None
    ]


def _blocker(notice: Notice, transition: NoticeTransition) -> str | None:
    if (
        notice.state == "resolved"
        and transition.only_after_outcomes
        and notice.outcome not in transition.only_after_outcomes
    ):
        return (
            f"the notice was resolved as {notice.outcome_label.lower()}: a counter-notice "
            "follows a removal"
        )
    return None


def transition_notice(
    notice: Notice,
    actor: Actor,
    target: str,
    *,
    occurred_at: date | datetime | None = None,
    note: str = "",
    outcome: str | None = None,
    reason: str | None = None,
    their_reference: str | None = None,
    response: Upload | None = None,
    expected_version: int | None = None,
) -> Notice:
    """Move a notice along its workflow (the table above), with the recipient's answer kept."""
    require_permission(actor, "notice.manage")
    if expected_version is not None and expected_version != notice.version:
        raise Conflict(f"notice {notice.id} was changed by someone else: reload it")
    transition = _allowed_transition(notice, actor, target)
    note, reason = (note or "").strip(), (reason or "").strip()
    when = _as_datetime(occurred_at) or utcnow()
    _check_step(
        notice,
        transition,
        when,
        dated=occurred_at is not None,
        outcome=outcome,
        reason=reason,
        their_reference=their_reference,
    )
    item = None
    if response is not None:
        item = _store_upload(
            notice.case,
            actor,
            response,
            f"{notice.recipient_name}'s answer to notice {notice.our_reference} ({target})",
        )
    before = notice.state
    changes = _move(notice, target, when, outcome=outcome, reason=reason)
    changes |= _their_reference_change(notice, their_reference)
    _event(
        notice,
        actor,
        target,
        from_state=before,
        to_state=target,
        occurred_at=when,
        note=reason or note,
        item=item,
    )
    db.session.flush()
    record(
        f"notice.{target}",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes=changes,
        details={
            "occurred_at": when,
            "note": note or None,
            "reason": reason or None,
            "response_sha256": item.sha256 if item else None,
        },
    )
    return notice


def _allowed_transition(notice: Notice, actor: Actor, target: str) -> NoticeTransition:
    """The move from the notice's state to `target`, refused unless the table allows it for
    this actor now."""
    if target not in NOTICE_STATES:
        raise InvalidInput("unknown notice state", details={"state": target})
    transition = find_notice_transition(notice.state, target)
    if transition is None:
        allowed = [t.target for t in NOTICE_TRANSITIONS if notice.state in t.sources]
        raise WorkflowRefused(
            f"a notice that is {notice.state_label.lower()} cannot become "
            f"{NOTICE_STATES[target].lower()}"
            + (f" (it may become: {', '.join(allowed)})" if allowed else "")
        )
    if not actor.has_role(*transition.roles):
        raise PermissionDenied(f"{actor.role} may not {transition.label.lower()}")
    if problem := _blocker(notice, transition):
        raise WorkflowRefused(problem)
    return transition


def _check_step(
    notice: Notice,
    transition: NoticeTransition,
    when: datetime,
    *,
    dated: bool,
    outcome: str | None,
    reason: str,
    their_reference: str | None,
) -> None:
    """Refuse a move without what it needs (an outcome, a reason, the recipient's date), or
    dated in the future or before the notice was sent; InvalidInput names each problem."""
    errors: dict[str, str] = {}
    if when.tzinfo is None:
        errors["occurred_at"] = "a time with a zone"
    elif when > utcnow():
        errors["occurred_at"] = "cannot be in the future"
    elif when < notice.sent_at.replace(hour=0, minute=0, second=0, microsecond=0):
        errors["occurred_at"] = "cannot be before the notice was sent"
    if transition.needs_outcome and outcome not in OUTCOMES:
        errors["outcome"] = "one of " + ", ".join(OUTCOMES)
    if transition.needs_reason and not reason:
        errors["reason"] = "needs a reason"
    if transition.needs_date and not dated:
        errors["occurred_at"] = "the date the counter-notice was received"
    if their_reference is not None and len(their_reference.strip()) > 200:
        errors["their_reference"] = "at most 200 characters"
    if errors:
        raise InvalidInput(f"cannot {transition.label.lower()}", details=errors)


def _move(
    notice: Notice, target: str, when: datetime, *, outcome: str | None, reason: str
) -> dict[str, Any]:
    """Set the new state and the dates and facts that go with it; the changes, for the audit."""
    changes: dict[str, Any] = {"state": {"before": notice.state, "after": target}}
    notice.state = target
    if target == "acknowledged":
        notice.acknowledged_at = when
    elif target == "resolved":
        notice.outcome = outcome
        notice.resolved_at = when
        changes["outcome"] = {"before": None, "after": outcome}
    elif target == "counter_notice_received":
        notice.counter_notice_received_on = when.date()
        notice.resolved_at = None
    elif target in ("restored", "suit_filed"):
        notice.resolved_at = when
    elif target == "withdrawn":
        notice.withdraw_reason = reason
        notice.resolved_at = when
    return changes


def _their_reference_change(notice: Notice, their_reference: str | None) -> dict[str, Any]:
    """The recipient's reference for the notice, when the step brings a new one."""
    if their_reference is None or their_reference.strip() == notice.their_reference:
        return {}
    change = {"before": notice.their_reference, "after": their_reference.strip()}
    notice.their_reference = their_reference.strip()
    return {"their_reference": change}


def record_response(
    notice: Notice,
    actor: Actor,
    *,
    note: str,
    response: Upload | None = None,
    occurred_at: date | datetime | None = None,
) -> NoticeEvent:
    """The recipient answered without changing the notice's state (a question, a delay)."""
    require_permission(actor, "notice.manage")
    note = (note or "").strip()
    if not note and response is None:
        raise InvalidInput("say what they answered", details={"note": "required"})
    when = _as_datetime(occurred_at) or utcnow()
    item = None
    if response is not None:
        item = _store_upload(
            notice.case,
            actor,
            response,
            f"{notice.recipient_name}'s answer to notice {notice.our_reference}",
        )
    event = _event(notice, actor, "response", occurred_at=when, note=note, item=item)
    db.session.flush()
    record(
        "notice.response",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={
            "occurred_at": when,
            "note": note,
            "response_sha256": item.sha256 if item else None,
        },
    )
    return event


def set_owner(notice: Notice, actor: Actor, owner_id: int) -> Notice:
    """Who follows the notice up (reminders go to them)."""
    from compliance.auth.models import User

    require_permission(actor, "notice.manage")
    user = db.session.get(User, owner_id)
    if user is None or not user.active or user.role not in ("analyst", "counsel"):
        raise InvalidInput("not an owner", details={"owner_id": "an active analyst or counsel"})
    if notice.owner_id == owner_id:
        return notice
    before = notice.owner.email if notice.owner else None
    notice.owner_id = owner_id
    db.session.flush()
    record(
        "notice.owner_changed",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes={"owner": {"before": before, "after": user.email}},
    )
    return notice
