"""Periodic reviews: what is due when, the reviews people record, notifications and the outbox.

A `ReviewSchedule` row is the single "next review" of one subject (a case's state review, a
case's legal-hold review, a policy document's annual review). The scheduler polls these rows;
web code never adds scheduler jobs, it only writes due dates here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.auth.models import User
from compliance.cases.models import STATES, Case
from compliance.db import BigId, check, one_of, utcnow
from compliance.extensions import db

REVIEW_KINDS = ("case", "hold", "policy")
# What a review is about: a case (state and hold reviews) or a policy document.
REVIEW_SUBJECT_TYPES = ("case", "policy")
OUTCOMES = ("continue", "escalate", "recommend_close", "recommend_dismiss")
OUTCOME_LABELS = {
    "continue": "Continue",
    "escalate": "Escalate",
    "recommend_close": "Recommend closing",
    "recommend_dismiss": "Recommend dismissal",
}
# Life of a scheduled review: upcoming -> due (notice window) -> overdue -> escalated.
# `done` rows belong to subjects that no longer need reviews (closed case, released hold).
SCHEDULE_STATUSES = ("scheduled", "due", "overdue", "escalated", "done")
NOTIFICATION_KINDS = (
    "review_due",
    "review_overdue",
    "review_escalated",
    # A notice's deadline (compliance.notices.reminders) and a re-upload (notices.watch).
    "notice_reminder",
    "notice_due",
    "notice_overdue",
    "notice_repeat",
)
EMAIL_STATUSES = ("queued", "sent", "failed")
# A job run is `running` until it ends `ok` or `failed`; a crash leaves it to be marked
# `interrupted` at the next start.
JOB_STATUSES = ("running", "ok", "failed", "interrupted")


class ReviewSchedule(db.Model):
    """The next review one subject needs, and how far past due it is."""

    __tablename__ = "review_schedules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    # "case" for case and hold reviews, "policy" for a policy document.
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    subject_label: Mapped[str] = mapped_column(String(300))  # ref or title, for lists and mails
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    case: Mapped[Case | None] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("kind", "subject_type", "subject_id"),
        # The due pass and the review lists both walk open rows in due order.
        Index("ix_review_schedules_status_due_at", "status", "due_at"),
        Index("ix_review_schedules_case_id", "case_id"),
        # Hold and policy reviews are listed by kind (counsel's and admins' queues).
        Index("ix_review_schedules_kind_due_at", "kind", "due_at"),
        one_of("kind", REVIEW_KINDS),
        one_of("subject_type", REVIEW_SUBJECT_TYPES),
        one_of("status", SCHEDULE_STATUSES),
    )

    @property
    def is_open(self) -> bool:
        return self.status != "done"


class Review(db.Model):
    """One completed review: who looked, when, what they concluded and when to look again."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    case_state: Mapped[str | None] = mapped_column(String(20))  # the state that was reviewed
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewer: Mapped[str] = mapped_column(String(300))  # actor label
    reviewer_name: Mapped[str] = mapped_column(String(200))  # printed name, for the sign-off
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str] = mapped_column(Text, default="")
    was_due_at: Mapped[datetime | None]
    next_review_at: Mapped[datetime | None]
    # One token per rendered form: a double-submitted form records one review.
    form_token: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ix_reviews_case_id_reviewed_at", "case_id", "reviewed_at"),
        Index("ix_reviews_subject", "subject_type", "subject_id", "reviewed_at"),
        one_of("kind", REVIEW_KINDS),
        one_of("subject_type", REVIEW_SUBJECT_TYPES),
        one_of("outcome", OUTCOMES),
        one_of("case_state", STATES),
    )

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)


class Notification(db.Model):
    """An in-app message to one user; unique per subject, due period and kind (never twice)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    # The due date the message is about: the next period's reminder is a new notification.
    due_at: Mapped[datetime]
    case_ref: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    recipient: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("recipient_id", "subject_type", "subject_id", "due_at", "kind"),
        # The bell counts unread per user on every page.
        Index("ix_notifications_recipient_id_read_at", "recipient_id", "read_at"),
        Index("ix_notifications_recipient_id_created_at", "recipient_id", "created_at"),
        one_of("kind", NOTIFICATION_KINDS),
        # subject_type stays open: any capability may notify about its own records.
    )


class OutboxEmail(db.Model):
    """An e-mail to send. Without SMTP it waits here, visible to admins, so nothing is lost."""

    __tablename__ = "outbox_emails"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), unique=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_emails_status_next_attempt_at", "status", "next_attempt_at"),
        one_of("status", EMAIL_STATUSES),
        check("attempts >= 0", "attempts"),
    )


class JobRun(db.Model):
    """One run of a scheduled job: when, how it ended, what it did or why it failed."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="running")  # JOB_STATUSES
    summary: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        Index("ix_job_runs_job_id_started_at", "job_id", "started_at"),
        one_of("status", JOB_STATUSES),
    )
