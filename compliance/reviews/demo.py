"""Demo data for reviews: schedules for everything, one signed-off review, first reminders."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from compliance.actor import Actor
from compliance.cases.models import Case
from compliance.extensions import db
from compliance.reviews import operations, tasks
from compliance.reviews.models import Review


def load_review_demo(echo: Callable[[str], None]) -> None:
    """Reconcile schedules, record one review by a case owner, then run a due pass (idempotent:
    the review is recorded once; notifications are unique per due period)."""
    summary = tasks.retention_checks()
    if db.session.scalar(select(Review.id).limit(1)) is None:
        case = db.session.scalar(
            select(Case)
            .where(Case.state == "triage", Case.owner_id.is_not(None))
            .order_by(Case.id)
            .limit(1)
        )
        if case is not None:
            operations.complete_review(
                case,
                Actor.for_user(case.owner),
                outcome="continue",
                notes="Seller's listing is still up; payment fingerprints requested from billing.",
                form_token="demo-first-review",  # noqa: S106 - a form id, not a secret
            )
            db.session.commit()
            echo(f"  review recorded on {case.ref} by {case.owner.name}")
    summary.update(tasks.run_due_pass())
    echo("  reviews: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
