"""A case's next review is set when it enters a state, from that state's cadence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from compliance.cases import operations as cases
from compliance.cases.workflow import TransitionRequest
from compliance.config import Defaults
from compliance.extensions import db
from compliance.reviews import operations
from compliance.reviews.models import ReviewSchedule
from tests.reviews.conftest import T0

DEFAULT_CADENCE = Defaults.REVIEW_CADENCE_DAYS


@pytest.mark.parametrize(("state", "days"), sorted(DEFAULT_CADENCE.items()))
def test_entering_a_state_schedules_the_next_review_from_its_cadence(
    app, clock, make_case, operator, state, days
):
    case = make_case()
    case.state = state
    operations.schedule_case_reviews([case], operator)
    db.session.commit()

    assert case.next_review_at == T0 + timedelta(days=days)
    row = operations.find_schedule("case", "case", case.id)
    assert (row.due_at, row.status) == (T0 + timedelta(days=days), "scheduled")


@pytest.mark.parametrize("state", ["closed", "dismissed"])
def test_closed_and_dismissed_cases_have_no_next_review(app, clock, make_case, operator, state):
    case = make_case()
    case.state = state
    operations.schedule_case_reviews([case], operator)
    db.session.commit()

    assert case.next_review_at is None
    assert operations.find_schedule("case", "case", case.id).status == "done"


def test_the_workflow_reschedules_on_every_transition(app, clock, make_case, actor_for):
    counsel = actor_for("counsel")
    case = make_case()
    assert case.next_review_at == T0 + timedelta(days=1)  # reported: review tomorrow

    clock.move_to(T0 + timedelta(hours=5))
    cases.transition_case(case, "triage", counsel, TransitionRequest())
    db.session.commit()
    assert case.next_review_at == T0 + timedelta(hours=5, days=3)

    cases.transition_case(case, "dismissed", counsel, TransitionRequest(reason="benign"))
    db.session.commit()
    assert case.next_review_at is None
    assert db.session.query(ReviewSchedule).filter_by(status="done").count() == 1


def test_cadences_are_configurable(app, clock, make_case):
    app.config["REVIEW_CADENCE_DAYS"] = {**DEFAULT_CADENCE, "reported": 2}
    assert make_case().next_review_at == T0 + timedelta(days=2)


def test_hold_and_policy_cadences(app):
    assert operations.cadence_due("hold", T0) == T0 + timedelta(days=90)
    assert operations.cadence_due("policy", T0) == T0 + timedelta(days=365)


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(hours=-25), "scheduled"),
        (timedelta(hours=-24), "due"),
        (timedelta(0), "due"),
        (timedelta(seconds=1), "overdue"),
        (timedelta(days=2) - timedelta(seconds=1), "overdue"),
        (timedelta(days=2), "escalated"),
    ],
)
def test_status_at_each_point_around_the_due_date(app, offset, status):
    assert operations.status_at(T0, T0 + offset) == status
