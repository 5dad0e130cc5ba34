"""Scheduled jobs. Each is a module-level function taking an injected `now` (tests pass one).

The scheduler calls `run_job(job_id)`, which opens an app context, logs the run in `job_runs`
and, when the job raises, records the failure (log, job-run row, `job.failed` audit event in
its own transaction) and returns: one failing job never stops the scheduler or the others.
Jobs commit one subject at a time, so a process killed mid-job keeps what it finished and a
re-run redoes only the rest (unique constraints make a redo harmless).
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context

from compliance.audit.chain import normalise, record
from compliance.audit.context import new_request_id
from compliance.auth.actor import Actor
from compliance.db import utcnow, writing_work
from compliance.extensions import db
from compliance.reviews import mail
from compliance.reviews import operations as ops
from compliance.reviews.models import JobRun, OutboxEmail, ReviewSchedule

log = logging.getLogger("compliance.scheduler")

Summary = dict[str, Any]
_bound_app: Flask | None = None


def bind_app(app: Flask | None) -> None:
    """The app whose context scheduled jobs run in (the scheduler process binds its own)."""
    global _bound_app
    _bound_app = app


def _app() -> Flask:
    global _bound_app
    if _bound_app is None:
        from compliance import create_app

        _bound_app = create_app()
    return _bound_app


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


# ---------------------------------------------------------------- integrity jobs
def audit_chain_nightly(now: datetime | None = None) -> Summary:
    """Verify the whole audit chain (the result is audited), then sign and export a
    chain-head checkpoint outside the database. A broken chain fails the job, loudly."""
    from compliance.audit import checkpoints

    actor = Actor.system("audit-nightly")
    report = checkpoints.run_verification(actor)
    db.session.commit()
    summary: Summary = {"events": report.count, "head_seq": report.head_seq}
    if report.ok:
        checkpoint = checkpoints.write_checkpoint(actor)
        db.session.commit()
        summary["checkpoint"] = checkpoint.file_name
    if not report.ok:
        raise RuntimeError(f"audit chain broken at seq={report.bad_seq}: {report.problem}")
    return summary


def evidence_nightly(now: datetime | None = None) -> Summary:
    """Re-verify every stored evidence blob against its SHA-256 (custody and audit record it)."""
    from compliance.evidence.operations import verify_evidence

    report = verify_evidence(Actor.system("evidence-nightly"))
    db.session.commit()
    if not report.ok:
        bad = ", ".join(f"sha256={sha} {status}" for sha, status in report.problems[:20])
        raise RuntimeError(f"evidence verification: {len(report.problems)} problem(s): {bad}")
    return {"items": report.items, "blobs": report.checked}


def backup_drill(now: datetime | None = None) -> Summary:
    """Prove a backup restores (the newest in BACKUP_DIR, else a fresh one): a restore drill
    into a temporary instance; the verdict is audited and shown on the audit page."""
    from compliance.backup import drill

    report = drill(Actor.system("backup-drill"))
    db.session.commit()
    if not report.ok:
        raise RuntimeError(report.verdict)
    return {"verdict": report.verdict, "tables": report.tables, "files": report.files}


def packets_queued(now: datetime | None = None) -> Summary:
    """Build packets that users queued (PDF rendering stays off the request path)."""
    from compliance.packets.tasks import build_queued_packets

    results = build_queued_packets()
    db.session.commit()
    return {"built": [f"{r.packet.id}:{r.packet.status}" for r in results]}


def intel_rematch(now: datetime | None = None) -> Summary:
    """Match kept industry-intel bundles against subjects that arrived since."""
    from compliance.intel.tasks import rematch_intel

    return rematch_intel(now)


def intel_taxii_poll(now: datetime | None = None) -> Summary:
    """Pull what partner labs added to their TAXII collections since the last poll."""
    from compliance.intel.tasks import poll_taxii_feeds

    return poll_taxii_feeds(now)


def notice_reminders(now: datetime | None = None) -> Summary:
    """Remind notices' owners of their deadlines and escalate passed ones to counsel."""
    from compliance.notices.reminders import notice_reminders as remind

    return remind(now)


JOBS: dict[str, Callable[[datetime | None], Summary]] = {
    "reviews-due": reviews_due,
    "reviews-escalate": reviews_escalate,
    "send-outbox": send_outbox,
    "retention-checks": retention_checks,
    "audit-nightly": audit_chain_nightly,
    "evidence-nightly": evidence_nightly,
    "backup-drill": backup_drill,
    "packets-queued": packets_queued,
    "intel-rematch": intel_rematch,
    "intel-taxii-poll": intel_taxii_poll,
    "notice-reminders": notice_reminders,
}


# ---------------------------------------------------------------- the runner
def _finish(run_id: int, status: str, summary: Summary | None, error: str | None) -> None:
    run = db.session.get(JobRun, run_id)
    run.status, run.finished_at = status, utcnow()
    run.summary, run.error = summary, error


def run_job(job_id: str, now: datetime | None = None) -> int | None:
    """The scheduler's entry point: run one job by id, log it, and contain its failure.

    Returns the job-run id (None when even the log could not be written: database down).
    """
    if not has_app_context():
        with _app().app_context(), writing_work():
            return run_job(job_id, now)
    new_request_id(f"job-{job_id}-")
    try:
        # host:pid names the scheduler process (several may run on one machine for fail-over).
        run = JobRun(
            job_id=job_id, host=f"{socket.gethostname()}:{os.getpid()}", started_at=utcnow()
        )
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    except Exception:
        db.session.rollback()
        log.exception("job %s: could not start (database unavailable?)", job_id)
        return None
    try:
        summary = JOBS[job_id](now)
        _finish(run_id, "ok", normalise(summary), None)
        db.session.commit()
        log.info("job %s ok: %s", job_id, summary)
        return run_id
    except Exception as error:  # noqa: BLE001 - contained: logged, recorded, audited
        db.session.rollback()
        log.exception("job %s failed", job_id)
        message = f"{type(error).__name__}: {error}"
        _record_failure(job_id, run_id, message, traceback.format_exc(limit=20))
        return run_id


def _record_failure(job_id: str, run_id: int, message: str, trace: str) -> None:
    """Mark the run failed and audit it in a fresh transaction; never raise from here."""
    try:
        _finish(run_id, "failed", None, f"{message}\n\n{trace}"[:20_000])
        record(
            "job.failed",
            actor=Actor.system(job_id),
            object_type="job",
            object_id=job_id,
            details={"run_id": run_id, "error": message[:2000]},
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("job %s: the failure could not be recorded", job_id)


def interrupt_stale_runs() -> int:
    """Runs left 'running' by a process that died: only one scheduler is active, so none of
    them is still running when a scheduler becomes active."""
    from sqlalchemy import update

    result = db.session.execute(
        update(JobRun)
        .where(JobRun.status == "running")
        .values(status="interrupted", finished_at=utcnow())
    )
    db.session.commit()
    return result.rowcount or 0
