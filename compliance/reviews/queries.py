"""What the reviews' pages ask, as queries: a person's notifications, the outbox, job runs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from compliance.extensions import db
from compliance.reviews.models import JobRun, Notification, OutboxEmail

EMAIL_STATUSES = ("queued", "sent", "failed")


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    page: int
    pages: int


def notifications_of(user_id: int, page: int, per_page: int = 50) -> NotificationPage:
    """One page of someone's notifications, newest first."""
    query = select(Notification).where(Notification.recipient_id == user_id)
    items = db.session.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    return NotificationPage(list(items), page, max(-(-total // per_page), 1))


@dataclass(frozen=True)
class OutboxView:
    emails: list[OutboxEmail]
    counts: dict[str, int]
    runs: list[JobRun]


def outbox(status: str | None) -> OutboxView:
    """The latest e-mails (of one status when given), counts by status, the latest job runs."""
    query = select(OutboxEmail)
    if status in EMAIL_STATUSES:
        query = query.where(OutboxEmail.status == status)
    emails = db.session.scalars(query.order_by(OutboxEmail.id.desc()).limit(200)).all()
    counts = dict(
        db.session.execute(
            select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)
        ).all()
    )
    runs = db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(50)).all()
    return OutboxView(list(emails), counts, list(runs))
