"""Telling people: due/overdue/escalated notices, their in-app notifications and e-mails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import User
from compliance.auth.permissions import can
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import PermissionDenied
from compliance.extensions import db
from compliance.policies.models import PolicyDocument
from compliance.reviews.models import (
    Notification,
    OutboxEmail,
    ReviewSchedule,
)
from compliance.reviews.operations.policy_reviews import policy_owner_id
from compliance.reviews.operations.schedules import STATUS_RANK, status_at

NOTIFICATION_FOR_STATUS = {
    "due": "review_due",
    "overdue": "review_overdue",
    "escalated": "review_escalated",
}
KIND_LABEL = {"case": "Case review", "hold": "Legal-hold review", "policy": "Annual policy review"}
MAX_EMAIL_ATTEMPTS = 5


# ---------------------------------------------------------------- due, overdue, escalated
def _active_users(role: str) -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == role, User.active)))


def recipients_for(row: ReviewSchedule, status: str) -> list[User]:
    """Who is told about this review: its owner; counsel when nobody owns it or it escalates."""
    people: list[User] = []
    if row.kind == "case" and row.case is not None:
        owner = row.case.owner
        if owner is not None and owner.active:
            people.append(owner)
        if not people or status == "escalated":
            people.extend(_active_users("counsel"))
    elif row.kind == "hold":
        people.extend(_active_users("counsel"))
    elif row.kind == "policy":
        owner_id = policy_owner_id(row.subject_id)
        owner = db.session.get(User, owner_id) if owner_id else None
        if owner is not None and owner.active:
            people.append(owner)
        if not people or status == "escalated":
            people.extend(_active_users("admin"))
    unique: dict[int, User] = {u.id: u for u in people}
    return list(unique.values())


def _link_for(row: ReviewSchedule) -> str:
    if row.subject_type == "case" and row.case is not None:
        return f"/cases/{row.case.ref}?tab=reviews"
    document = db.session.get(PolicyDocument, row.subject_id) if row.kind == "policy" else None
    return f"/policies/{document.key}/" if document is not None else "/reviews/team"


def _message(row: ReviewSchedule, status: str) -> tuple[str, str]:
    what = f"{KIND_LABEL[row.kind]} of {row.subject_label}"
    when = row.due_at.strftime("%Y-%m-%d %H:%M UTC")
    if status == "due":
        return f"Review due: {row.subject_label}", f"{what} is due on {when}."
    if status == "overdue":
        return f"Review overdue: {row.subject_label}", f"{what} was due on {when} and is overdue."
    return (
        f"Escalated: review of {row.subject_label} overdue",
        f"{what} was due on {when}. It is overdue by more than "
        f"{current_app.config['REVIEW_ESCALATE_AFTER_DAYS']} days and has been escalated "
        "to counsel.",
    )


def _insert_ignoring_duplicates(values: dict[str, Any]) -> int | None:
    """Insert a notification unless the same one exists; the new id, or None if it existed.

    ON CONFLICT DO NOTHING rather than check-then-insert: two schedulers overlapping during a
    fail-over, or a job re-run after a crash, cannot create a second copy.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["recipient_id", "subject_type", "subject_id", "due_at", "kind"]
        )
        .returning(Notification.id)
    )
    return db.session.execute(stmt).scalar()


def notify(
    row: ReviewSchedule, status: str, now: datetime, actor: Actor | None = None
) -> list[int]:
    """Create the in-app notification (and its e-mail) for each recipient, at most once each.

    Audited when it creates any (`actor` defaults to the notifying job's system actor).
    """
    kind = NOTIFICATION_FOR_STATUS[status]
    title, body = _message(row, status)
    link = _link_for(row)
    created = []
    for user in recipients_for(row, status):
        notification_id = _insert_ignoring_duplicates(
            {
                "recipient_id": user.id,
                "kind": kind,
                "subject_type": row.subject_type,
                "subject_id": row.subject_id,
                "due_at": row.due_at,
                "case_ref": row.case.ref if row.case is not None else None,
                "title": title,
                "body": body,
                "link": link,
                "created_at": now,
            }
        )
        if notification_id is None:
            continue
        created.append(notification_id)
        db.session.add(
            OutboxEmail(
                notification_id=notification_id,
                recipient=user.email,
                subject=f"[Compliance] {title}",
                body=f"{body}\n\nOpen: {current_app.config['PUBLIC_URL'].rstrip('/')}{link}\n",
                created_at=now,
                next_attempt_at=now,
            )
        )
    db.session.flush()
    if created:
        record(
            "notification.created",
            actor=actor or Actor.system("review-notifications"),
            object_type="review_schedule",
            object_id=row.id,
            case=row.case,
            details={"kind": kind, "subject": row.subject_label, "notification_ids": created},
        )
    return created


def advance_review(row: ReviewSchedule, target: str, now: datetime, actor: Actor) -> bool:
    """Move a scheduled review forward to `target` and tell the right people; False if no-op.

    After downtime a review may jump several steps at once (due -> escalated): the people are
    told about where it stands now, once, and the audit event names the skipped steps.
    """
    if row.status == "done" or STATUS_RANK[target] <= STATUS_RANK[row.status]:
        return False
    before = row.status
    row.status, row.status_changed_at = target, now
    created = notify(row, target, now, actor)
    record(
        f"review.{target}",
        actor=actor,
        object_type="review_schedule",
        object_id=row.id,
        case=row.case,
        changes={"status": {"before": before, "after": target}},
        details={
            "kind": row.kind,
            "subject": row.subject_label,
            "due_at": row.due_at,
            "notifications": len(created),
        },
    )
    return True


# ---------------------------------------------------------------- notifications for people
@dataclass(frozen=True)
class ReviewLists:
    overdue: list[ReviewSchedule]
    due: list[ReviewSchedule]
    upcoming: list[ReviewSchedule]


def open_reviews(
    until: datetime, user: User | None = None, limit: int | None = None
) -> list[ReviewSchedule]:
    """Open scheduled reviews due up to `until`, in due order; for one user when given; the
    first `limit` only when given (each part is cut too, so a page reads no more than it shows)."""
    query = select(ReviewSchedule).where(
        ReviewSchedule.status != "done", ReviewSchedule.due_at <= until
    )
    order = (ReviewSchedule.due_at, ReviewSchedule.id)
    if user is None:
        return list(db.session.scalars(query.order_by(*order).limit(limit)))
    # One query per kind, merged by due date: an OR across the case owner and the kind would
    # walk every open schedule of the team (all cases' rows) to find one person's.
    my_cases = select(Case.id).where(Case.owner_id == user.id)
    parts = [query.where(ReviewSchedule.kind == "case", ReviewSchedule.case_id.in_(my_cases))]
    if user.role == "counsel":
        # Nobody owns these cases (or their owner left): counsel are told of their reviews
        # (recipients_for), so counsel find them among their own work too. Asked row by row
        # (EXISTS), the reviews are read in due order and the reading stops at `limit`: as a
        # list of cases (IN), every unowned case's reviews were read and sorted first, tens
        # of milliseconds on the dashboard at 100,000 cases (make bench).
        unowned = (
            select(Case.id)
            .outerjoin(User, User.id == Case.owner_id)
            .where(
                Case.id == ReviewSchedule.case_id,
                or_(Case.owner_id.is_(None), User.active.is_(False)),
            )
        )
        parts.append(query.where(ReviewSchedule.kind == "case", unowned.exists()))
    kinds = [k for k, p in (("hold", "hold.manage"), ("policy", "policy.review")) if can(user, p)]
    if kinds:
        parts.append(query.where(ReviewSchedule.kind.in_(kinds)))
    rows = [row for part in parts for row in db.session.scalars(part.order_by(*order).limit(limit))]
    return sorted(rows, key=lambda row: (row.due_at, row.id))[:limit]


def my_reviews(
    user: User, now: datetime, horizon_days: int = 30, limit: int | None = None
) -> ReviewLists:
    """A reviewer's work: overdue, due (notice window open) and upcoming within the horizon
    (the `limit` soonest due when given)."""
    rows = open_reviews(now + timedelta(days=horizon_days), user, limit)
    buckets: dict[str, list[ReviewSchedule]] = {"overdue": [], "due": [], "upcoming": []}
    for row in rows:
        state = status_at(row.due_at, now)
        bucket = {"escalated": "overdue", "scheduled": "upcoming"}.get(state, state)
        buckets[bucket].append(row)
    return ReviewLists(**buckets)


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.recipient_id == user_id, Notification.read_at.is_(None)
        )
    )


def mark_read(actor: Actor, notification_ids: list[int] | None = None) -> int:
    """Mark the actor's own notifications read (all unread when no ids are given)."""
    if actor.user_id is None:
        raise PermissionDenied("only a signed-in user has notifications")
    where = [Notification.recipient_id == actor.user_id, Notification.read_at.is_(None)]
    if notification_ids is not None:
        where.append(Notification.id.in_(notification_ids))
    ids = list(db.session.scalars(select(Notification.id).where(*where)))
    if not ids:
        return 0
    db.session.execute(
        update(Notification).where(Notification.id.in_(ids)).values(read_at=utcnow())
    )
    record(
        "notification.read",
        actor=actor,
        object_type="notification",
        object_id=ids[0] if len(ids) == 1 else None,
        details={"notification_ids": ids},
    )
    return len(ids)


# ---------------------------------------------------------------- e-mail outbox
def sendable_emails(now: datetime, limit: int = 50) -> list[int]:
    return list(
        db.session.scalars(
            select(OutboxEmail.id)
            .where(OutboxEmail.status == "queued", OutboxEmail.next_attempt_at <= now)
            .order_by(OutboxEmail.id)
            .limit(limit)
        )
    )


def record_email_attempt(
    email: OutboxEmail, now: datetime, actor: Actor, error: str | None = None
) -> None:
    """Note the outcome of one delivery attempt; retry with back-off, give up after a few."""
    email.attempts += 1
    if error is None:
        email.status, email.sent_at, email.last_error = "sent", now, None
    else:
        email.last_error = error[:2000]
        if email.attempts >= MAX_EMAIL_ATTEMPTS:
            email.status = "failed"
        else:
            email.next_attempt_at = now + timedelta(minutes=2**email.attempts)
    db.session.flush()
    retrying = email.status == "queued"
    record(
        "email.retry_scheduled" if retrying else f"email.{email.status}",
        actor=actor,
        object_type="outbox_email",
        object_id=email.id,
        details={
            "recipient": email.recipient,
            "subject": email.subject,
            "attempts": email.attempts,
            "error": email.last_error,
            **({"next_attempt_at": email.next_attempt_at} if retrying else {}),
        },
    )
