"""A notice's deadlines remind its owner and escalate to counsel, each once, on the right
business days — walked with a frozen clock across Thanksgiving and the weekends of 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.extensions import db
from compliance.notices.due_dates import deadlines_of, next_deadline, upcoming
from compliance.notices.operations import transition_notice
from compliance.notices.reminders import notice_reminders
from compliance.notices.tracking import NoticeReminder
from compliance.reviews import tasks
from compliance.reviews.models import JobRun, Notification, OutboxEmail
from tests.notices.followup import make_recipient, send_notice


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=hour)


@pytest.fixture
def people(app, make_user):
    owner = make_user("analyst")
    counsel = make_user("counsel")
    return owner, counsel


def reminders() -> list[tuple[str, str, date, str]]:
    return [
        (r.sent_at.date().isoformat(), r.deadline, r.due_on, r.level)
        for r in db.session.scalars(select(NoticeReminder).order_by(NoticeReminder.id))
    ]


def test_a_counter_notice_walks_its_window_across_thanksgiving(backend, app, make_case, people):
    owner, counsel_user = people
    counsel = Actor.for_user(counsel_user)
    recipient = make_recipient(counsel)  # US, answers within 5 business days
    case = make_case(summary="A distilled model hosted on Tensorloft")
    steps = {
        date(2026, 11, 20): ("acknowledged", {}),
        date(2026, 11, 23): ("resolved", {"outcome": "removed"}),
        date(2026, 11, 25): ("counter_notice_received", {"occurred_at": date(2026, 11, 25)}),
        date(2026, 12, 18): ("restored", {}),
    }
    day = date(2026, 11, 16)  # a Monday
    with time_machine.travel(at(day, 8), tick=False) as clock:
        notice = send_notice(case, counsel, recipient, sent_on=at(day, 8), owner_id=owner.id)
        notice_id = notice.id
        while day <= date(2026, 12, 23):
            for hour in (9, 15):  # twice a day, as the job runs every 30 minutes: never twice
                clock.move_to(at(day, hour))
                tasks.run_job("notice-reminders")
            if day in steps:
                clock.move_to(at(day, 16))
                target, extra = steps[day]
                notice = db.session.get(type(notice), notice_id)
                transition_notice(notice, counsel, target, **extra)
                db.session.commit()
            day += timedelta(days=1)

    assert reminders() == [
        # Acknowledgment expected Mon 23 Nov: the owner hears 2 business days before.
        ("2026-11-19", "acknowledgment", date(2026, 11, 23), "before"),
        # Acknowledged Fri 20 Nov; the decision was expected Mon 30 Nov (Thanksgiving skipped),
        # but the platform removed the model on 23 Nov: no reminder.
        # Counter-notice Wed 25 Nov: the platform may restore from Thu 10 Dec ...
        ("2026-12-08", "restore_earliest", date(2026, 12, 10), "before"),
        ("2026-12-10", "restore_earliest", date(2026, 12, 10), "due"),
        ("2026-12-11", "restore_earliest", date(2026, 12, 10), "overdue"),
        # ... and must by Wed 16 Dec.
        ("2026-12-14", "restore_latest", date(2026, 12, 16), "before"),
        ("2026-12-16", "restore_latest", date(2026, 12, 16), "due"),
        ("2026-12-17", "restore_latest", date(2026, 12, 16), "overdue"),
        # Restored on 18 Dec: nothing more.
    ]
    rows = db.session.scalars(select(NoticeReminder).order_by(NoticeReminder.id)).all()
    for row in rows:
        told = set(row.recipients)
        if row.level == "overdue":  # escalated: counsel as well as the owner
            assert told == {owner.email, counsel_user.email}
        else:
            assert told == {owner.email}
    # Each reminder is an in-app notification and an e-mail per person, linking the notice.
    notifications = db.session.scalars(
        select(Notification).where(Notification.subject_type == "notice_reminder")
    ).all()
    assert len(notifications) == sum(len(r.recipients) for r in rows) == 9
    assert {n.link for n in notifications} == {f"/notices/{notice_id}"}
    escalation = next(n for n in notifications if n.kind == "notice_overdue")
    assert "Escalated" in escalation.title and "counsel" in escalation.body
    assert db.session.scalar(select(db.func.count(OutboxEmail.id))) == 9
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("notice.%ed")).order_by(AuditEvent.seq)
        )
        if e.action in ("notice.reminded", "notice.escalated")
    ]
    assert actions.count("notice.reminded") == 5 and actions.count("notice.escalated") == 2
    runs = db.session.scalars(select(JobRun).where(JobRun.job_id == "notice-reminders")).all()
    assert runs and {r.status for r in runs} == {"ok"}


def test_after_downtime_a_passed_deadline_is_escalated_once(backend, app, make_case, people):
    owner, counsel_user = people
    counsel = Actor.for_user(counsel_user)
    recipient = make_recipient(counsel)
    case = make_case(summary="A distilled model hosted on Tensorloft")
    with time_machine.travel(at(date(2026, 11, 25), 13), tick=False) as clock:
        notice = send_notice(case, counsel, recipient, sent_on=at(date(2026, 11, 25), 7))
        transition_notice(
            notice, counsel, "counter_notice_received", occurred_at=date(2026, 11, 25)
        )
        db.session.commit()
        # The scheduler was down from the counter-notice until Saturday 12 December.
        clock.move_to(at(date(2026, 12, 12)))
        assert notice_reminders() == {
            "notices": 1,
            "sent_before": 0,
            "sent_due": 0,
            "sent_overdue": 1,
        }
        assert notice_reminders()["sent_overdue"] == 0
    assert reminders() == [("2026-12-12", "restore_earliest", date(2026, 12, 10), "overdue")]


def test_deadlines_shown_count_the_recipients_business_days(backend, app, make_case, people):
    owner, counsel_user = people
    counsel = Actor.for_user(counsel_user)
    german = make_recipient(counsel, name="Gewichtehafen GmbH (fictional)", jurisdiction="DE")
    case = make_case(summary="A distilled model hosted in Germany")
    with time_machine.travel(at(date(2026, 12, 21), 10), tick=False):
        notice = send_notice(case, counsel, german, sent_on=at(date(2026, 12, 21), 9))
        one_off = send_notice(case, counsel, None, sent_on=at(date(2026, 12, 21), 9))
        # 5 German business days after Mon 21 Dec: 22, 23, 24, (25, 26 holidays), 28, 29.
        (ack,) = deadlines_of(notice)
        assert (ack.kind, ack.due_on, ack.text) == (
            "acknowledgment",
            date(2026, 12, 29),
            "5 business days left",
        )
        assert ack.calendar == "DE"
        # A one-off recipient: NOTICE_RESPONSE_DAYS (10) U.S. business days.
        assert next_deadline(one_off).due_on == date(2027, 1, 6)
        assert [n.id for n, _d in upcoming()] == [notice.id, one_off.id]
        transition_notice(notice, counsel, "withdrawn", reason="Sent to the wrong host")
        db.session.commit()
        assert next_deadline(notice) is None
        assert [n.id for n, _d in upcoming()] == [one_off.id]


def test_an_agencys_information_request_has_its_own_deadline(backend, app, make_case, people):
    from compliance.notices.operations import record_information_request

    owner, counsel_user = people
    counsel = Actor.for_user(counsel_user)
    case = make_case(summary="Referral to an agency")
    with time_machine.travel(at(date(2026, 12, 2), 10), tick=False) as clock:
        notice = send_notice(
            case,
            counsel,
            None,
            packet_type="referral",
            sent_on=at(date(2026, 12, 1)),
            owner_id=owner.id,
        )
        transition_notice(notice, counsel, "acknowledged", occurred_at=date(2026, 12, 2))
        clock.move_to(at(date(2026, 12, 3), 13))
        record_information_request(
            notice,
            counsel,
            received_on=date(2026, 12, 3),
            request="Logs for Oct.",
            due_on=date(2026, 12, 10),
        )
        db.session.commit()
        assert [(d.kind, d.due_on) for d in deadlines_of(notice)] == [
            ("information_due", date(2026, 12, 10)),
            ("decision", date(2026, 12, 16)),  # 10 U.S. business days after 2 Dec
        ]
        assert next_deadline(notice).kind == "information_due"
        for day in (8, 11):
            clock.move_to(at(date(2026, 12, day)))
            notice_reminders()
    assert reminders() == [
        ("2026-12-08", "information_due", date(2026, 12, 10), "before"),
        ("2026-12-11", "information_due", date(2026, 12, 10), "overdue"),
    ]
