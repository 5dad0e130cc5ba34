"""Running one scheduled job: the scheduler calls `run_job(job_id)`.

`run_job` opens an app context, logs the run in `job_runs` and, when the job raises, records
the failure (log, job-run row, `job.failed` audit event in its own transaction) and returns:
one failing job never stops the scheduler or the others. Jobs commit one subject at a time,
so a process killed mid-job keeps what it finished and a re-run redoes only the rest (unique
constraints make a redo harmless).
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from datetime import datetime
from typing import Any

from flask import Flask, has_app_context
from sqlalchemy import update

from compliance.actor import Actor
from compliance.audit.chain import normalise, record
from compliance.audit.context import new_request_id
from compliance.db import utcnow, writing_work
from compliance.extensions import db
from compliance.reviews.models import JobRun
from compliance.scheduling.jobs import JOBS

log = logging.getLogger("compliance.scheduler")

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


def _finish(run_id: int, status: str, summary: dict[str, Any] | None, error: str | None) -> None:
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
    result = db.session.execute(
        update(JobRun)
        .where(JobRun.status == "running")
        .values(status="interrupted", finished_at=utcnow())
    )
    db.session.commit()
    return result.rowcount or 0
