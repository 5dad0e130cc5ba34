"""The scheduler: missed work runs once after downtime, failures are contained, and on
PostgreSQL only one scheduler of several is active."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from apscheduler.events import (
    EVENT_ALL,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select, text

from compliance.audit.models import AuditEvent
from compliance.db import utcnow
from compliance.extensions import db
from compliance.reviews import scheduler as sched
from compliance.reviews import tasks
from compliance.reviews.models import JobRun


def _runs(job_id: str, status: str | None = None) -> int:
    db.session.rollback()  # see what the scheduler's threads committed
    query = select(func.count()).select_from(JobRun).where(JobRun.job_id == job_id)
    if status:
        query = query.where(JobRun.status == status)
    return db.session.scalar(query)


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def stop_after():
    """Register a started scheduler to be shut down after the test."""
    started = []
    yield started.append
    for scheduler in started:
        if scheduler.running:
            scheduler.shutdown(wait=True)


@pytest.fixture(autouse=True)
def _unbind_app():
    yield
    tasks.bind_app(None)


def _record_job_events(monkeypatch) -> list[list[Any]]:
    """Every scheduler the test builds reports its job events to a list of its own.

    The listener is added before the scheduler starts, so not even its first pass is missed.
    """
    recorded: list[list[Any]] = []
    build = sched.build_scheduler

    def build_recording(app):
        scheduler = build(app)
        events: list[Any] = []
        scheduler.add_listener(events.append, EVENT_ALL)
        recorded.append(events)
        return scheduler

    # Patched where start_scheduler looks it up (the module that defines it).
    home = sys.modules[sched.start_scheduler.__module__]
    monkeypatch.setattr(home, "build_scheduler", build_recording)
    return recorded


def _of(events: list[Any], code: int) -> list[Any]:
    return [event for event in list(events) if event.code & code]


def test_work_missed_while_the_scheduler_was_down_runs_once_on_restart(
    app, stop_after, monkeypatch
):
    recorded = _record_job_events(monkeypatch)
    every_5_min = [sched.JobSpec("reviews-due", IntervalTrigger(minutes=5, timezone="UTC"), 3600)]
    first = sched.start_scheduler(app, every_5_min)
    assert _wait_for(lambda: _runs("reviews-due", "ok") == 1)  # a first start works at once
    assert first.get_job("reviews-due").next_run_time > utcnow() + timedelta(minutes=4)
    # The scheduler stops with its next run falling due 50 minutes (ten runs) ago.
    first.pause()
    first.modify_job("reviews-due", next_run_time=utcnow() - timedelta(minutes=50))
    first.shutdown()
    assert _runs("reviews-due") == 1

    second = sched.start_scheduler(app, every_5_min)  # restarted: same ids, replace_existing
    stop_after(second)
    events = recorded[-1]
    assert _wait_for(lambda: _runs("reviews-due", "ok") == 2)
    # The pass that found the ten missed runs handed the executor one run time, not ten (the
    # executor would run each one it is given), and nothing was skipped or dropped as missed.
    # Once the executor reports that run finished, nothing else is pending: the next pass that
    # could submit anything is five minutes away.
    assert _wait_for(lambda: len(_of(events, EVENT_JOB_EXECUTED)) == 1)
    (submission,) = _of(events, EVENT_JOB_SUBMITTED)
    assert len(submission.scheduled_run_times) == 1
    assert not _of(events, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    assert second.get_job("reviews-due").next_run_time > utcnow() + timedelta(minutes=4)
    assert _runs("reviews-due") == 2  # ten missed runs coalesced into one


def test_restarting_keeps_one_copy_of_each_job(app, stop_after):
    for _ in range(2):
        scheduler = sched.start_scheduler(app)
        ids = sorted(job.id for job in scheduler.get_jobs())
        scheduler.shutdown()
    assert ids == sorted(spec.id for spec in sched.job_specs())
    assert {"reviews-due", "reviews-escalate", "send-outbox", "audit-nightly"} <= set(ids)
    nightly = next(s for s in sched.job_specs() if s.id == "audit-nightly")
    assert nightly.misfire_grace_time >= 6 * 3600


def test_a_raising_job_is_recorded_and_the_scheduler_keeps_going(app, monkeypatch, stop_after):
    def explode(now=None):
        raise RuntimeError("checkpoint directory is read-only")

    monkeypatch.setitem(tasks.JOBS, "explode", explode)
    scheduler = sched.start_scheduler(
        app, [sched.JobSpec("explode", IntervalTrigger(seconds=0.3, timezone="UTC"), 60)]
    )
    stop_after(scheduler)
    assert _wait_for(lambda: _runs("explode", "failed") >= 2)
    assert scheduler.running and scheduler.get_job("explode") is not None
    failures = select(func.count()).where(AuditEvent.action == "job.failed")
    assert db.session.scalar(failures) >= 2


def test_a_run_cut_short_by_a_crash_is_marked_interrupted(app, stop_after):
    db.session.add(JobRun(job_id="reviews-due", status="running"))
    db.session.commit()
    stop_after(sched.start_scheduler(app, []))
    assert _runs("reviews-due", "interrupted") == 1


# ---------------------------------------------------------------- leader election
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_only_one_of_two_schedulers_is_active_and_the_other_takes_over(app, backend):
    started: list[str] = []

    def starter(name: str):
        def start(app_, specs):
            started.append(name)
            return sched.start_scheduler(app_, [])

        return start

    first = sched.SchedulerService(app, poll_interval=0.05, specs=[], starter=starter("first"))
    second = sched.SchedulerService(app, poll_interval=0.05, specs=[], starter=starter("second"))
    stops = {first: threading.Event(), second: threading.Event()}
    threads = [threading.Thread(target=s.run, args=(stops[s],), daemon=True) for s in stops]
    threads[0].start()
    assert first.became_active.wait(10)
    # The standby tries for the lock at each poll: let it try ten times, then look.
    polls, polled_ten_times, poll = itertools.count(1), threading.Event(), second.poll

    def counted_poll():
        poll()
        if next(polls) >= 10:
            polled_ten_times.set()

    second.poll = counted_poll
    threads[1].start()
    assert polled_ten_times.wait(10)
    assert first.is_active and not second.is_active and started == ["first"]

    stops[first].set()  # the active scheduler stops (deploy, crash, node loss)
    threads[0].join(10)
    assert second.became_active.wait(10) and started == ["first", "second"]
    assert not first.is_active

    stops[second].set()
    threads[1].join(10)
    assert not second.is_active


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_leader_whose_connection_dies_steps_down_and_a_standby_takes_over(app, backend):
    first = sched.SchedulerService(app, specs=[])
    second = sched.SchedulerService(app, specs=[])
    first.poll()
    second.poll()
    assert first.is_active and not second.is_active
    leader_pid = first._lock_conn.execute(text("SELECT pg_backend_pid()")).scalar()

    # The leader's database session is killed (network partition, failover of PostgreSQL).
    db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": leader_pid})
    db.session.commit()
    first.poll()
    assert not first.is_active
    second.poll()
    assert second.is_active
    first.poll()  # the old leader, reconnected, finds the lock taken and stays standby
    assert not first.is_active
    second.step_down()
    first.step_down()
