"""Due -> overdue -> escalated, told to the right people exactly once, even across crashes."""

from __future__ import annotations

from datetime import timedelta

import click
import pytest
from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import verify_chain
from compliance.audit.models import AuditEvent
from compliance.cases import operations as cases
from compliance.cli import main
from compliance.extensions import db
from compliance.reviews import operations, tasks
from compliance.reviews.cli import reviews_group
from compliance.reviews.models import JobRun, Notification, OutboxEmail
from compliance.reviews.operations import notifications
from tests.reviews.conftest import T0

TRIAGE_DUE = T0 + timedelta(days=3)


def _notifications(**filters) -> list[Notification]:
    query = select(Notification).filter_by(**filters).order_by(Notification.id)
    return list(db.session.scalars(query))


def _count(model, **filters) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**filters))


def test_a_review_goes_due_then_overdue_then_escalated_and_each_step_is_told_once(
    app, clock, owned_case, make_user
):
    case, owner = owned_case("triage")  # triage: review every 3 days
    counsel = [make_user("counsel"), make_user("counsel")]
    row = operations.find_schedule("case", "case", case.id)

    clock.move_to(TRIAGE_DUE - timedelta(hours=30))
    tasks.run_due_pass()
    assert row.status == "scheduled" and _count(Notification) == 0

    clock.move_to(TRIAGE_DUE - timedelta(hours=2))  # inside the 24 h notice window
    tasks.run_due_pass()
    tasks.run_due_pass()  # the next run five minutes later changes nothing
    db.session.refresh(row)
    assert row.status == "due"
    [due] = _notifications()
    assert (due.kind, due.recipient_id, due.case_ref) == ("review_due", owner.id, case.ref)
    assert due.link == f"/cases/{case.ref}?tab=reviews"

    clock.move_to(TRIAGE_DUE + timedelta(hours=1))
    tasks.run_due_pass()
    tasks.run_due_pass()
    db.session.refresh(row)
    assert row.status == "overdue"
    assert [n.recipient_id for n in _notifications(kind="review_overdue")] == [owner.id]

    clock.move_to(TRIAGE_DUE + timedelta(days=2, hours=1))
    tasks.run_due_pass()
    tasks.run_due_pass()
    db.session.refresh(row)
    assert row.status == "escalated"
    escalated = {n.recipient_id for n in _notifications(kind="review_escalated")}
    assert escalated == {owner.id} | {c.id for c in counsel}
    assert _count(Notification) == 2 + len(escalated)
    assert _count(OutboxEmail) == _count(Notification)  # each notification has its e-mail

    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("review.%")).order_by(AuditEvent.seq)
    ).all()
    assert [a for a in actions if a in ("review.due", "review.overdue", "review.escalated")] == [
        "review.due",
        "review.overdue",
        "review.escalated",
    ]
    assert verify_chain().ok


def test_completing_the_review_starts_a_new_period_with_new_reminders(app, clock, owned_case):
    case, owner = owned_case("triage")
    clock.move_to(TRIAGE_DUE + timedelta(hours=1))
    tasks.run_due_pass()
    operations.complete_review(case, Actor.for_user(owner), outcome="continue", form_token="t")
    db.session.commit()
    row = operations.find_schedule("case", "case", case.id)
    assert row.status == "scheduled" and row.due_at == TRIAGE_DUE + timedelta(days=3, hours=1)

    clock.move_to(row.due_at - timedelta(hours=1))
    tasks.run_due_pass()
    assert [n.kind for n in _notifications()] == ["review_overdue", "review_due"]


def test_a_case_without_an_owner_is_told_to_counsel(app, clock, make_case, make_user):
    counsel = make_user("counsel")
    make_case()  # reported, nobody owns it: due within a day
    tasks.run_due_pass()
    assert [n.recipient_id for n in _notifications()] == [counsel.id]


def test_after_downtime_a_long_overdue_review_is_escalated_once(app, clock, owned_case, make_user):
    case, owner = owned_case("triage")
    counsel = make_user("counsel")
    clock.move_to(TRIAGE_DUE + timedelta(days=10))  # the scheduler was down for ten days
    tasks.run_due_pass()
    tasks.run_due_pass()
    assert _count(Notification, kind="review_due") == 0  # no stale "due soon" message
    assert {n.recipient_id for n in _notifications(kind="review_escalated")} == {
        owner.id,
        counsel.id,
    }
    assert _count(Notification, kind="review_escalated") == 2


def test_a_pass_killed_half_way_neither_loses_nor_duplicates_notifications(
    app, clock, owned_case, monkeypatch
):
    owners = [owned_case("triage")[1] for _ in range(3)]
    clock.move_to(TRIAGE_DUE + timedelta(hours=1))
    real_notify = operations.notify
    calls = []

    def dies_on_the_second_review(row, status, now, actor=None):
        calls.append(row.id)
        if len(calls) == 2:
            raise SystemExit("kill -9")  # the process dies mid-job
        return real_notify(row, status, now, actor)

    # advance_review calls the notify of its own module
    monkeypatch.setattr(notifications, "notify", dies_on_the_second_review)
    with pytest.raises(SystemExit):
        tasks.reviews_due()
    db.session.rollback()
    assert _count(Notification) == 1  # the first review was finished and kept

    monkeypatch.setattr(notifications, "notify", real_notify)
    tasks.reviews_due()  # the restarted scheduler's next run
    tasks.reviews_due()
    assert sorted(n.recipient_id for n in _notifications()) == sorted(o.id for o in owners)
    assert _count(OutboxEmail) == 3


def test_the_same_notification_is_never_inserted_twice(app, clock, owned_case):
    case, owner = owned_case("triage")
    clock.move_to(TRIAGE_DUE + timedelta(hours=1))
    row = operations.find_schedule("case", "case", case.id)
    assert len(operations.notify(row, "overdue", T0)) == 1
    # Two schedulers overlapping during a fail-over both try: the database keeps one.
    assert operations.notify(row, "overdue", T0) == []
    db.session.commit()
    assert _count(Notification) == 1 and _count(OutboxEmail) == 1


def test_legal_holds_get_a_review_every_ninety_days(app, clock, owned_case, make_user):
    case, _ = owned_case("triage")
    counsel = make_user("counsel")
    cases.place_hold(case, Actor.for_user(counsel), "preservation letter received")
    db.session.commit()

    clock.move_to(T0 + timedelta(minutes=5))
    tasks.reviews_due()
    hold = operations.find_schedule("hold", "case", case.id)
    assert hold.due_at == T0 + timedelta(days=90)  # counted from when the hold was placed

    clock.move_to(T0 + timedelta(days=90, hours=1))
    tasks.reviews_due()
    held = [n for n in _notifications() if n.subject_id == case.id and n.recipient_id == counsel.id]
    assert "Legal-hold review" in held[-1].body

    cases.release_hold(case, Actor.for_user(counsel), "matter settled")
    db.session.commit()
    tasks.reviews_due()
    assert operations.find_schedule("hold", "case", case.id).status == "done"


def test_the_cli_pass_reports_what_it_did(app, clock, owned_case):
    owned_case("triage")
    clock.move_to(TRIAGE_DUE + timedelta(hours=1))
    listed = set(main.list_commands(click.Context(main)))
    assert {"scheduler", "reviews"} <= listed  # `compliance scheduler` exists
    result = app.test_cli_runner().invoke(reviews_group, ["run-due"])
    assert result.exit_code == 0, result.output
    assert "advanced=1" in result.output


def test_a_failing_job_is_logged_recorded_and_audited(app, monkeypatch, caplog):
    def explode(now=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(tasks.JOBS, "explode", explode)
    run_id = tasks.run_job("explode")

    run = db.session.get(JobRun, run_id)
    assert run.status == "failed" and "disk on fire" in run.error
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "job.failed"))
    assert event.actor == "system:explode" and event.details["run_id"] == run_id
    assert "job explode failed" in caplog.text
    assert verify_chain().ok
    # ...and the next job runs normally.
    assert db.session.get(JobRun, tasks.run_job("reviews-due")).status == "ok"
