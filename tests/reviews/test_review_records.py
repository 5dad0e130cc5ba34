"""Completing a review: who may, what it records, when the next one falls due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import verify_chain
from compliance.audit.models import AuditEvent
from compliance.cases import operations as cases
from compliance.cases.workflow import TransitionRequest
from compliance.errors import InvalidInput, PermissionDenied, WorkflowRefused
from compliance.extensions import db
from compliance.reviews import operations
from compliance.reviews.models import Review
from tests.reviews.conftest import T0


def _review_count() -> int:
    return db.session.scalar(select(func.count(Review.id)))


def test_the_owner_records_a_review_and_the_next_date_follows_the_cadence(app, clock, owned_case):
    case, owner = owned_case("investigating")
    clock.move_to(T0 + timedelta(days=13))

    review = operations.complete_review(
        case,
        Actor.for_user(owner),
        outcome="continue",
        notes="Still sweeping **coding** prompts; 14 new accounts.",
        form_token="tok-1",
    )
    db.session.commit()

    assert review.reviewer == owner.actor_label and review.reviewer_name == owner.name
    assert review.reviewed_at == T0 + timedelta(days=13)
    assert review.was_due_at == T0 + timedelta(days=14)
    assert review.next_review_at == T0 + timedelta(days=27)
    assert case.next_review_at == T0 + timedelta(days=27)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "review.completed"))
    assert event.case_ref == case.ref and event.details["outcome"] == "continue"
    assert verify_chain().ok


def test_the_next_review_may_be_brought_forward_but_not_pushed_back(app, clock, owned_case):
    case, owner = owned_case("investigating")
    actor = Actor.for_user(owner)
    sooner = T0 + timedelta(days=2)
    review = operations.complete_review(
        case, actor, outcome="escalate", form_token="a", next_review_at=sooner
    )
    assert review.next_review_at == sooner == case.next_review_at

    with pytest.raises(InvalidInput, match="never pushed past the cadence"):
        operations.complete_review(
            case, actor, outcome="continue", form_token="b", next_review_at=T0 + timedelta(days=15)
        )
    with pytest.raises(InvalidInput, match="in the future"):
        operations.complete_review(
            case, actor, outcome="continue", form_token="c", next_review_at=T0
        )


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_someone_without_review_access_is_refused(app, clock, owned_case, actor_for, role):
    case, _ = owned_case()
    with pytest.raises(PermissionDenied):
        operations.complete_review(case, actor_for(role), outcome="continue", form_token="x")
    db.session.rollback()
    assert _review_count() == 0


def test_a_review_of_a_closed_case_is_refused(app, clock, owned_case, actor_for):
    case, owner = owned_case()
    counsel = actor_for("counsel")
    cases.transition_case(case, "dismissed", counsel, TransitionRequest(reason="not abuse"))
    db.session.commit()
    with pytest.raises(WorkflowRefused, match="reopen it"):
        operations.complete_review(case, counsel, outcome="continue", form_token="x")


def test_a_double_submitted_review_is_recorded_once(app, clock, owned_case):
    case, owner = owned_case()
    actor = Actor.for_user(owner)
    first = operations.complete_review(case, actor, outcome="continue", form_token="same")
    db.session.commit()
    second = operations.complete_review(case, actor, outcome="continue", form_token="same")
    db.session.commit()

    assert first.id == second.id
    assert _review_count() == 1
    completed = select(func.count()).where(AuditEvent.action == "review.completed")
    assert db.session.scalar(completed) == 1


def test_a_double_click_on_the_form_records_one_review(app, clock, login_as, make_case):
    user, client = login_as("analyst")
    case = make_case(owner_id=user.id)
    form = {"kind": "case", "form_token": "rendered-once", "outcome": "continue", "notes": "ok"}
    for _ in range(2):
        response = client.post(f"/cases/{case.ref}/reviews", data=form)
        assert response.status_code == 302
    assert _review_count() == 1


def test_hold_reviews_are_for_counsel_and_only_while_a_hold_is_in_force(
    app, clock, owned_case, actor_for
):
    case, owner = owned_case()
    counsel = actor_for("counsel")
    with pytest.raises(WorkflowRefused, match="not under legal hold"):
        operations.complete_review(case, counsel, outcome="continue", form_token="h0", kind="hold")
    cases.place_hold(case, counsel, "litigation expected")
    db.session.commit()

    with pytest.raises(PermissionDenied):
        operations.complete_review(
            case, Actor.for_user(owner), outcome="continue", form_token="h1", kind="hold"
        )
    review = operations.complete_review(
        case, counsel, outcome="continue", form_token="h2", kind="hold"
    )
    db.session.commit()
    assert review.next_review_at == T0 + timedelta(days=90)
    assert case.next_review_at == T0 + timedelta(days=3)  # the case review is unaffected
