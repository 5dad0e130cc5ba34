"""`compliance scheduler` (the scheduler process) and `compliance reviews ...` commands."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from compliance.audit.context import new_request_id


@click.command("scheduler")
@click.option(
    "--poll-seconds",
    default=10.0,
    show_default=True,
    type=float,
    help="How often a standby asks for the leader lock (PostgreSQL) and the leader checks it.",
)
@with_appcontext
def scheduler_command(poll_seconds: float) -> None:
    """Run the scheduled jobs (reviews, e-mail, nightly verification) until stopped.

    On PostgreSQL several copies may run: one is active, the others stand by for fail-over.
    On SQLite run exactly one.
    """
    from compliance.scheduling.scheduler import SchedulerService, describe_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Our own log says which job ran and what it did; APScheduler's would repeat it each time.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = current_app._get_current_object()
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        click.echo(f"scheduler: signal {signum}, stopping after the running job")
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service = SchedulerService(app, poll_interval=poll_seconds)
    backend = "PostgreSQL, leader election" if service._elect else "SQLite, single process"
    click.echo(f"scheduler starting ({backend})")

    def _banner() -> None:
        while not stop.is_set():
            if service.became_active.wait(0.5) and service.scheduler is not None:
                click.echo("scheduler active; jobs:")
                for line in describe_jobs(service.scheduler):
                    click.echo("  " + line)
                return

    threading.Thread(target=_banner, daemon=True).start()
    service.run(stop)
    click.echo("scheduler stopped")


@click.group("reviews")
def reviews_group() -> None:
    """Periodic case, legal-hold and policy reviews."""


@reviews_group.command("run-due")
@with_appcontext
def reviews_run_due() -> None:
    """Run one due/overdue/escalation pass now and print what changed."""
    from compliance.reviews.tasks import run_due_pass

    new_request_id("cli-reviews-")
    summary = run_due_pass()
    click.echo("reviews: " + ", ".join(f"{key}={value}" for key, value in summary.items()))


@reviews_group.command("jobs")
@with_appcontext
def reviews_jobs() -> None:
    """Show the last run of each scheduled job."""
    from sqlalchemy import func, select

    from compliance.extensions import db
    from compliance.reviews.models import JobRun

    latest = (
        select(JobRun.job_id, func.max(JobRun.id).label("id")).group_by(JobRun.job_id).subquery()
    )
    rows = db.session.scalars(
        select(JobRun).join(latest, latest.c.id == JobRun.id).order_by(JobRun.job_id)
    ).all()
    if not rows:
        click.echo("no job has run yet")
    for run in rows:
        click.echo(f"{run.job_id:18} {run.status:11} {run.started_at:%Y-%m-%d %H:%M:%S}Z")


def _date_option(value: str | None) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise click.BadParameter(f"not a date YYYY-MM-DD: {value}", param_hint="--next") from None


@reviews_group.command("policy")
@click.argument("document_key")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(["continue", "escalate", "recommend_close", "recommend_dismiss"]),
)
@click.option("--notes", default="", help="Markdown notes on the review.")
@click.option("--next", "next_on", default=None, help="Next review date (YYYY-MM-DD), ≤ 1 year.")
@click.option("--as", "as_email", metavar="EMAIL", default=None, help="Act as this user.")
@with_appcontext
def reviews_policy(
    document_key: str, outcome: str, notes: str, next_on: str | None, as_email: str | None
) -> None:
    """Record the annual review of policy document DOCUMENT_KEY (counsel or admin)."""
    import secrets

    # Imported here: compliance.cli imports this module while it registers commands.
    from compliance.cli import fail, resolve_actor
    from compliance.errors import OperationError
    from compliance.extensions import db
    from compliance.policies.operations import get_document
    from compliance.reviews.operations import complete_policy_review

    new_request_id("cli-reviews-")
    try:
        document = get_document(document_key)
        review = complete_policy_review(
            document,
            resolve_actor(as_email),
            outcome=outcome,
            notes=notes,
            form_token=secrets.token_urlsafe(24),
            next_review_on=_date_option(next_on),
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        raise fail(error) from error
    click.echo(f"{document.key}: reviewed ({outcome}); next {review.next_review_at:%Y-%m-%d}")
