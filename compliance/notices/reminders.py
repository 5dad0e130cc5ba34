"""Reminders about notices' deadlines: the owner before and on the day, counsel once it passes.

The scheduler's `notice-reminders` job walks every notice that has a deadline (see
`due_dates.deadlines_of`) and, for each deadline, sends the reminder of the furthest level it
has reached — `before` (NOTICE_REMIND_BUSINESS_DAYS business days ahead), `due` (the day),
`overdue` (escalated to counsel) — unless that level or a later one was already sent. After
downtime a deadline may jump from nothing to overdue: the people are told where it stands now,
once. A `NoticeReminder` row is inserted first (ON CONFLICT DO NOTHING): its unique key
(notice, deadline, date, level) is what makes a reminder happen once across runs and hosts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import User
from compliance.db import utcnow
from compliance.extensions import db
from compliance.notices.due_dates import NoticeDeadline, deadlines_of, notices_with_deadlines
from compliance.notices.models import Notice
from compliance.notices.tracking import REMINDER_LEVELS, NoticeReminder
from compliance.reviews.models import Notification, OutboxEmail

NOTIFICATION_KIND = {"before": "notice_reminder", "due": "notice_due", "overdue": "notice_overdue"}
RANK = {level: i for i, level in enumerate(REMINDER_LEVELS)}


def _insert_ignoring_duplicates(model: Any, values: dict[str, Any], keys: list[str]) -> int | None:
    """Insert a row unless one with the same unique key exists; the new id, or None."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(model.id)
    )
    return db.session.execute(stmt).scalar()


def notice_link(notice: Notice) -> str:
    """The notice's page, as a path (e-mails prefix PUBLIC_URL)."""
    return f"/notices/{notice.id}"


def _active_counsel() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == "counsel", User.active)))


def people_to_tell(notice: Notice, level: str) -> list[User]:
    """The notice's owner (else the case's owner, else counsel); counsel too once overdue."""
    people: list[User] = []
    for candidate in (notice.owner, notice.case.owner):
        if candidate is not None and candidate.active:
            people.append(candidate)
            break
    if not people or level == "overdue":
        people.extend(_active_counsel())
    return list({u.id: u for u in people}.values())


def _message(notice: Notice, deadline: NoticeDeadline, level: str) -> tuple[str, str]:
    what = f"notice {notice.our_reference} to {notice.recipient_name}"
    when = deadline.due_on.isoformat()
    if level == "before":
        title = f"{deadline.label} {when}: {notice.our_reference}"
        lead = f"{deadline.label} on {when} ({deadline.text}) for {what}."
    elif level == "due":
        title = f"Due today: {deadline.label.lower()}, {notice.our_reference}"
        lead = f"{deadline.label} today, {when}, for {what}."
    else:
        title = f"Escalated: {deadline.label.lower()} passed, {notice.our_reference}"
        lead = (
            f"{deadline.label} on {when} for {what} has passed ({deadline.text}) and the notice "
            f"is still {notice.state_label.lower()}. Escalated to counsel."
        )
    body = (
        f"{lead}\n{deadline.action}.\nCase {notice.case.ref}; business days counted for "
        f"{deadline.calendar}."
    )
    return title[:300], body


def send_reminder(
    notice: Notice, deadline: NoticeDeadline, level: str, now: datetime, actor: Actor
) -> NoticeReminder | None:
    """Tell the right people about one level of one deadline, once; None if already told."""
    reminder_id = _insert_ignoring_duplicates(
        NoticeReminder,
        {
            "notice_id": notice.id,
            "deadline": deadline.kind,
            "due_on": deadline.due_on,
            "level": level,
            "sent_at": now,
            "recipients": [],
        },
        ["notice_id", "deadline", "due_on", "level"],
    )
    if reminder_id is None:
        return None
    reminder = db.session.get(NoticeReminder, reminder_id)
    title, body = _message(notice, deadline, level)
    link = notice_link(notice)
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    due_at = datetime.combine(deadline.due_on, time(0, 0), tzinfo=UTC)
    people = people_to_tell(notice, level)
    notification_ids = []
    for user in people:
        notification = Notification(
            recipient_id=user.id,
            kind=NOTIFICATION_KIND[level],
            # The reminder is the subject: one notification per person per reminder.
            subject_type="notice_reminder",
            subject_id=reminder_id,
            due_at=due_at,
            case_ref=notice.case.ref,
            title=title,
            body=body,
            link=link,
            created_at=now,
        )
        db.session.add(notification)
        db.session.flush()
        notification_ids.append(notification.id)
        db.session.add(
            OutboxEmail(
                notification_id=notification.id,
                recipient=user.email,
                subject=f"[Compliance] {title}",
                body=f"{body}\n\nOpen: {base}{link}\n",
                created_at=now,
                next_attempt_at=now,
            )
        )
    reminder.recipients = [u.email for u in people]
    db.session.flush()
    record(
        "notice.escalated" if level == "overdue" else "notice.reminded",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={
            "deadline": deadline.kind,
            "due_on": deadline.due_on.isoformat(),
            "level": level,
            "days_left": deadline.days_left,
            "business_days_of": deadline.calendar,
            "recipients": reminder.recipients,
            "notification_ids": notification_ids,
        },
    )
    return reminder


def _levels_sent(notice_id: int) -> dict[tuple[str, date], int]:
    """The furthest level already sent for each (deadline, date) of a notice."""
    sent: dict[tuple[str, date], int] = {}
    for kind, due_on, level in db.session.execute(
        select(NoticeReminder.deadline, NoticeReminder.due_on, NoticeReminder.level).where(
            NoticeReminder.notice_id == notice_id
        )
    ):
        key = (kind, due_on)
        sent[key] = max(sent.get(key, -1), RANK[level])
    return sent


def remind_notice(notice: Notice, now: datetime, actor: Actor) -> list[NoticeReminder]:
    """Send what is owed for each of the notice's deadlines today; the reminders sent."""
    sent = _levels_sent(notice.id)
    made = []
    for deadline in deadlines_of(notice, now.date()):
        level = deadline.level
        if level is None or sent.get((deadline.kind, deadline.due_on), -1) >= RANK[level]:
            continue
        reminder = send_reminder(notice, deadline, level, now, actor)
        if reminder is not None:
            made.append(reminder)
    return made


def notice_reminders(now: datetime | None = None) -> dict[str, Any]:
    """The scheduler job: every notice with a deadline, one committed at a time."""
    now = now or utcnow()
    actor = Actor.system("notice-reminders")
    counts = dict.fromkeys(REMINDER_LEVELS, 0)
    ids = [n.id for n in notices_with_deadlines()]
    for notice_id in ids:
        notice = db.session.get(Notice, notice_id)
        if notice is None:
            continue
        for reminder in remind_notice(notice, now, actor):
            counts[reminder.level] += 1
        db.session.commit()  # one notice at a time: a crash keeps what was sent
    return {"notices": len(ids), **{f"sent_{k}": v for k, v in counts.items()}}


__all__ = ["notice_reminders", "people_to_tell", "remind_notice", "send_reminder"]
