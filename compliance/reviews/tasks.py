"""The reviews' scheduled jobs, each a function taking an injected `now` (tests pass one).

They are listed, with every other job of the application, in compliance/scheduling/jobs.py;
compliance/scheduling/runner.py runs them. Jobs commit one subject at a time, so a process
killed mid-job keeps what it finished and a re-run redoes only the rest (unique constraints
make a redo harmless).

The app-wide names that used to live here (JOBS, run_job, bind_app, interrupt_stale_runs and
the other domains' jobs) stay importable from this module for older scripts and tests.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from flask import current_app

from compliance.actor import Actor
from compliance.db import utcnow
from compliance.extensions import db
from compliance.reviews import mail
from compliance.reviews import operations as ops
from compliance.reviews.models import OutboxEmail, ReviewSchedule

Summary = dict[str, Any]


# ---------------------------------------------------------------- review jobs
def _advance_all(ids: list[int], now: datetime, cap: str, actor: Actor) -> int:
    advanced = 0
    for row_id in ids:
        row = db.session.get(ReviewSchedule, row_id)
        if row is None:
            continue
        target = ops.status_at(row.due_at, now)
        if ops.STATUS_RANK[target] > ops.STATUS_RANK[cap]:
            target = cap
        if ops.advance_review(row, target, now, actor):
            advanced += 1
        db.session.commit()  # one review at a time: a crash keeps what was done
    return advanced


def reviews_due(now: datetime | None = None) -> Summary:
    """Mark reviews due or overdue and notify their owners (every few minutes)."""
    now = now or utcnow()
    actor = Actor.system("reviews-due")
    summary = ops.sync_hold_reviews(now, actor)
    db.session.commit()
    summary["advanced"] = _advance_all(ops.due_pass_candidates(now), now, "overdue", actor)
    return summary


def reviews_escalate(now: datetime | None = None) -> Summary:
    """Escalate reviews overdue past the threshold to counsel."""
    now = now or utcnow()
    actor = Actor.system("reviews-escalate")
    return {"escalated": _advance_all(ops.escalation_candidates(now), now, "escalated", actor)}


def run_due_pass(now: datetime | None = None) -> Summary:
    """One full pass now: due/overdue, then escalation (the `reviews run-due` command)."""
    now = now or utcnow()
    return {**reviews_due(now), **reviews_escalate(now)}


def retention_checks(now: datetime | None = None) -> Summary:
    """Nightly reconciliation: every open case, legal hold and policy has its next review."""
    now = now or utcnow()
    actor = Actor.system("retention-checks")
    summary: Summary = {}
    summary.update(ops.sync_case_reviews(now, actor))
    summary.update(ops.sync_hold_reviews(now, actor))
    summary.update(policy_annual_reviews(now))
    db.session.commit()
    return summary


def policy_annual_reviews(now: datetime | None = None) -> Summary:
    """Policy documents' annual reviews, scheduled from the policies capability's dates."""
    now = now or utcnow()
    summary = ops.sync_policy_annual_reviews(now, Actor.system("policy-reviews"))
    db.session.commit()
    return summary


# ---------------------------------------------------------------- notifications
def send_outbox(now: datetime | None = None) -> Summary:
    """Send queued e-mails over SMTP; without SMTP they wait in the outbox for an admin."""
    now = now or utcnow()
    config = current_app.config
    waiting = ops.sendable_emails(now)
    if not mail.smtp_configured(config):
        return {"smtp": "not configured", "waiting": len(waiting)}
    actor = Actor.system("send-outbox")
    sent = failed = 0
    for email_id in waiting:
        email = db.session.get(OutboxEmail, email_id)
        if email is None or email.status != "queued":
            continue
        try:
            mail.send_email(config, email.recipient, email.subject, email.body)
        except Exception as error:  # noqa: BLE001 - any delivery failure is retried
            ops.record_email_attempt(email, now, actor, error=f"{type(error).__name__}: {error}")
            failed += 1
        else:
            ops.record_email_attempt(email, now, actor)
            sent += 1
        db.session.commit()
    return {"sent": sent, "failed_attempts": failed}


# Old names, resolved on first use (the scheduling package imports this module, so a plain
# import here would be a cycle).
_MOVED = {
    "JOBS": "compliance.scheduling.jobs",
    "backup_drill": "compliance.scheduling.jobs",
    "run_job": "compliance.scheduling.runner",
    "bind_app": "compliance.scheduling.runner",
    "interrupt_stale_runs": "compliance.scheduling.runner",
    "audit_chain_nightly": "compliance.trail.tasks",
    "evidence_nightly": "compliance.evidence.tasks",
    "packets_queued": "compliance.packets.tasks",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
