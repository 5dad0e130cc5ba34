"""Each open notice's deadlines: what the team waits for, by when, how many business days left.

One function (`deadlines_of`) decides a notice's deadlines from its state and dates; the case's
Notices tab, the notice page, the dashboard and the scheduler's reminders all ask it, so the
date a page shows is the date a reminder is sent about. Business days are the recipient's
(its jurisdiction and subdivision in the directory; the United States for a one-off recipient).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app, has_app_context
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from compliance.db import utcnow
from compliance.extensions import db
from compliance.notices import deadlines as bd
from compliance.notices.models import OPEN_NOTICE_STATES, InformationRequest, Notice
from compliance.notices.tracking import DEADLINE_KINDS

ACTIONS = {
    "acknowledgment": "Follow up with the recipient: no acknowledgment yet",
    "decision": "Follow up with the recipient: its decision is expected",
    "restore_earliest": (
        "The platform may restore from this day: if suit is filed, tell its designated agent "
        "before then and record it"
    ),
    "restore_latest": "The platform restores by this day unless told of a suit: record what it did",
    "information_due": "Answer the agency's request with a supplemental packet",
}


@dataclass(frozen=True)
class NoticeDeadline:
    """One deadline of one notice, counted from `today` in the recipient's business days."""

    notice_id: int
    kind: str
    due_on: date
    today: date
    days_left: int  # business days after today up to the deadline; negative once passed
    text: str  # "3 business days left", "due today", "overdue by 2 business days"
    remind_on: date  # the owner's reminder: NOTICE_REMIND_BUSINESS_DAYS business days before
    calendar: str  # whose business days ("US", "DE-BY", "ZZ (weekends only: ...)")

    @property
    def label(self) -> str:
        return DEADLINE_KINDS[self.kind]

    @property
    def action(self) -> str:
        return ACTIONS[self.kind]

    @property
    def overdue(self) -> bool:
        return self.due_on < self.today

    @property
    def due_today(self) -> bool:
        return self.due_on == self.today

    @property
    def level(self) -> str | None:
        """How far the reminders have come: None, "before", "due" or "overdue" (escalated)."""
        if self.today > self.due_on:
            return "overdue"
        if self.today == self.due_on:
            return "due"
        if self.today >= self.remind_on:
            return "before"
        return None


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default)) if has_app_context() else default


def jurisdiction(notice: Notice) -> tuple[str, str | None]:
    """Whose public holidays count: the directory recipient's, else the United States'."""
    recipient = notice.recipient
    if recipient is not None and recipient.jurisdiction:
        return recipient.jurisdiction, recipient.subdivision
    return bd.DEFAULT_COUNTRY, None


def response_days(notice: Notice) -> int:
    """The follow-up target: the recipient's expected response time in business days."""
    if notice.recipient is not None:
        return notice.recipient.response_days
    return _setting("NOTICE_RESPONSE_DAYS", 10)


def _raw_deadlines(notice: Notice) -> list[tuple[str, date]]:
    country, sub = jurisdiction(notice)
    found: list[tuple[str, date]] = []
    if notice.state == "sent":
        found.append(
            (
                "acknowledgment",
                bd.follow_up_target(notice.sent_at.date(), response_days(notice), country, sub),
            )
        )
    elif notice.state == "acknowledged":
        since = (notice.acknowledged_at or notice.sent_at).date()
        found.append(("decision", bd.follow_up_target(since, response_days(notice), country, sub)))
    elif notice.state == "counter_notice_received" and notice.counter_notice_received_on:
        earliest, latest = bd.restoration_window(notice.counter_notice_received_on, country, sub)
        found += [("restore_earliest", earliest), ("restore_latest", latest)]
    if notice.state != "withdrawn":
        found += [
            ("information_due", r.due_on)
            for r in notice.information_requests
            if r.due_on is not None and r.answered_at is None
        ]
    return found


def deadlines_of(notice: Notice, today: date | None = None) -> list[NoticeDeadline]:
    """Every deadline the notice has in its present state, earliest first."""
    today = today or utcnow().date()
    country, sub = jurisdiction(notice)
    calendar = bd.calendar_for(country, sub)
    ahead = _setting("NOTICE_REMIND_BUSINESS_DAYS", 2)
    result = [
        NoticeDeadline(
            notice_id=notice.id,
            kind=kind,
            due_on=due,
            today=today,
            days_left=bd.business_days_between(today, due, country, sub),
            text=bd.days_left_text(today, due, country, sub),
            remind_on=bd.add_business_days(due, -ahead, country, sub),
            calendar=calendar.label,
        )
        for kind, due in _raw_deadlines(notice)
    ]
    return sorted(result, key=lambda d: (d.due_on, list(DEADLINE_KINDS).index(d.kind)))


def next_deadline(notice: Notice, today: date | None = None) -> NoticeDeadline | None:
    """The deadline to show beside the notice: an overdue one first, else the nearest.

    Once the restoration window has opened its close is what counts (the opening was escalated
    when it passed).
    """
    deadlines = [
        d for d in deadlines_of(notice, today) if not (d.kind == "restore_earliest" and d.overdue)
    ]
    return deadlines[0] if deadlines else None


def notices_with_deadlines() -> list[Notice]:
    """Notices that can have a deadline: open ones and any awaiting an answer to an agency."""
    waiting = (
        select(InformationRequest.notice_id)
        .where(InformationRequest.answered_at.is_(None), InformationRequest.due_on.is_not(None))
        .scalar_subquery()
    )
    return list(
        db.session.scalars(
            select(Notice)
            .where(
                or_(
                    Notice.state.in_(OPEN_NOTICE_STATES),
                    (Notice.state != "withdrawn") & Notice.id.in_(waiting),
                )
            )
            .options(selectinload(Notice.information_requests))
            .order_by(Notice.id)
        )
    )


def upcoming(
    today: date | None = None, limit: int | None = None
) -> list[tuple[Notice, NoticeDeadline]]:
    """Notices by next deadline, overdue first (the dashboard's list)."""
    today = today or utcnow().date()
    pairs = [(n, d) for n in notices_with_deadlines() if (d := next_deadline(n, today))]
    pairs.sort(key=lambda pair: (pair[1].due_on, pair[0].id))
    return pairs[:limit] if limit is not None else pairs


__all__ = [
    "ACTIONS",
    "NoticeDeadline",
    "deadlines_of",
    "jurisdiction",
    "next_deadline",
    "notices_with_deadlines",
    "response_days",
    "upcoming",
]
