"""Policy documents get an annual review: scheduled, reminded to their owner, signed off."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from compliance.errors import InvalidInput, PermissionDenied
from compliance.extensions import db
from compliance.policies.models import PolicyDocument
from compliance.reviews import operations, tasks
from compliance.reviews.cli import reviews_group
from compliance.reviews.models import Notification


@pytest.fixture
def api_terms(app, clock, make_user):
    owner = make_user("counsel", email="policy.owner@lab.example")
    document = PolicyDocument(
        key="api-terms",
        title="API Terms of Service",
        short_title="API Terms",
        owner=owner.email,
        next_review_on=date(2026, 12, 1),
    )
    db.session.add(document)
    db.session.commit()
    return document, owner


def test_a_policy_is_scheduled_and_its_owner_reminded(app, clock, api_terms):
    document, owner = api_terms
    tasks.retention_checks()
    row = operations.find_schedule("policy", "policy", document.id)
    assert row.due_at == datetime(2026, 12, 1, tzinfo=UTC)

    clock.move_to(datetime(2026, 11, 30, 12, tzinfo=UTC))
    tasks.run_due_pass()
    [notice] = db.session.scalars(select(Notification)).all()
    assert notice.recipient_id == owner.id and notice.link == "/policies/api-terms/"
    assert "Annual policy review of API Terms of Service" in notice.body


def test_signing_off_a_policy_review_moves_the_date_a_year_at_most(
    app, clock, api_terms, actor_for
):
    document, owner = api_terms
    counsel = actor_for("counsel")
    with pytest.raises(PermissionDenied):
        operations.complete_policy_review(
            document, actor_for("analyst"), outcome="continue", form_token="p0"
        )
    with pytest.raises(InvalidInput, match="within the coming year"):
        operations.complete_policy_review(
            document, counsel, outcome="continue", form_token="p1", next_review_on=date(2028, 1, 1)
        )
    review = operations.complete_policy_review(
        document, counsel, outcome="continue", form_token="p2"
    )
    db.session.commit()
    assert document.next_review_on == date(2027, 11, 2)
    assert review.next_review_at == datetime(2027, 11, 2, tzinfo=UTC)
    row = operations.find_schedule("policy", "policy", document.id)
    assert row.due_at == review.next_review_at and row.status == "scheduled"


def test_the_cli_records_a_policy_review(app, clock, api_terms):
    result = app.test_cli_runner().invoke(
        reviews_group,
        ["policy", "api-terms", "--outcome", "continue", "--next", "2027-06-01"],
    )
    assert result.exit_code == 0, result.output
    assert "next 2027-06-01" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(PolicyDocument.next_review_on)) == date(2027, 6, 1)
