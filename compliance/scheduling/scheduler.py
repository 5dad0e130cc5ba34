"""The scheduler process: APScheduler 3.11 with a SQLAlchemy job store, and leader election.

Run it as its own process (`compliance scheduler`), never inside web workers: every worker
would run every job. Jobs have fixed ids, UTC triggers, `coalesce=True` and a generous
`misfire_grace_time`, so work missed while the scheduler was down runs once when it returns.

Start-up keeps missed runs. Re-adding a job with `replace_existing=True` would recompute its
next run time from now and silently drop a run that fell due during the downtime, so
`install_jobs` carries over the stored next run time when the trigger is unchanged.

PostgreSQL: any number of `compliance scheduler` processes may run; exactly one is active.
Each holds a dedicated connection and asks `pg_try_advisory_lock`; the winner runs the jobs,
the others poll. A session-level lock dies with its connection, so when the leader stops or
its connection drops, a standby takes over at its next poll. A leader killed outright (SIGKILL,
out of memory) has its socket closed by its kernel: PostgreSQL ends the session at once and the
standby takes over within one poll interval. A leader whose machine vanishes sends nothing;
the lock connection asks the server for TCP keepalives (LOCK_KEEPALIVES), so the server ends
that session after about 25 s and a standby takes over one poll later.

SQLite: one file, one machine, one scheduler process. There is no election; do not start two.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from compliance.db import configure_engine
from compliance.extensions import db
from compliance.scheduling import jobs, runner

log = logging.getLogger("compliance.scheduler")

LEADER_LOCK_KEY = 7_234_002  # session-level advisory lock: "the active scheduler"
# Server-side keepalives on the lock connection (idle 10 s, then 3 probes 5 s apart): the
# session, and the lock, of a leader whose host vanished end after about 25 s.
LOCK_KEEPALIVES = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"


@dataclass(frozen=True)
class JobSpec:
    """One job as the scheduler installs it: fixed id, trigger and misfire grace (seconds)."""

    id: str
    trigger: BaseTrigger
    misfire_grace_time: int
    name: str = ""


def job_specs(packet_poll_seconds: int = 20) -> list[JobSpec]:
    """The jobs of this installation (compliance.scheduling.jobs.TABLE), with fixed ids.

    `packet_poll_seconds` (COMPLIANCE_PACKET_POLL_SECONDS): how long a queued packet may wait
    for the build job.
    """
    config = {"PACKET_POLL_SECONDS": packet_poll_seconds}
    return [
        JobSpec(job.id, job.trigger(config), job.misfire_grace_time, job.name) for job in jobs.TABLE
    ]


class _Scheduler(BackgroundScheduler):
    """BackgroundScheduler without its last pass after shutdown.

    In APScheduler 3.11 the wake-up sent by `shutdown()` makes the thread process jobs once
    more, after the executors are gone: a job due at that moment fails to submit and its next
    run time is advanced anyway, so that run is lost. Skipping the pass keeps it for the next
    start (the catch-up test shuts down with a job due to prove it).
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """An APScheduler on the app's own database (its `apscheduler_jobs` table), in UTC."""
    with app.app_context():
        url = db.engine.url
    # Its own engine: the job store disposes its engine on shutdown, which must not touch
    # the app's pool.
    engine = create_engine(url)
    configure_engine(engine)
    # SQLite has one writer: run jobs one at a time there rather than contend for the lock.
    workers = 1 if engine.dialect.name == "sqlite" else 4
    return _Scheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
    )


def install_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Add each job under its fixed id, replacing the stored copy but keeping a pending run.

    Jobs no longer in `specs` are removed, so a renamed or retired job does not linger.
    """
    wanted = {spec.id for spec in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            scheduler.remove_job(job.id)
    for spec in specs:
        options: dict[str, Any] = {}
        stored = scheduler.get_job(spec.id)
        if stored is not None and str(stored.trigger) == str(spec.trigger):
            options["next_run_time"] = stored.next_run_time  # may lie in the past: catch-up
        elif isinstance(spec.trigger, IntervalTrigger):
            # First start (or a changed interval): do the frequent work now, not in 5 minutes.
            options["next_run_time"] = datetime.now(UTC)
        scheduler.add_job(
            runner.run_job,
            trigger=spec.trigger,
            args=[spec.id],
            id=spec.id,
            name=spec.name or spec.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=spec.misfire_grace_time,
            **options,
        )


def start_scheduler(app: Flask, specs: list[JobSpec] | None = None) -> BackgroundScheduler:
    """Start the jobs for `app`: paused while jobs are installed, so nothing runs half-set."""
    runner.bind_app(app)
    with app.app_context():
        interrupted = runner.interrupt_stale_runs()
    if interrupted:
        log.warning("%d job run(s) were interrupted by an earlier stop", interrupted)
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    if specs is None:
        specs = job_specs(int(app.config.get("PACKET_POLL_SECONDS", 20)))
    install_jobs(scheduler, specs)
    scheduler.resume()
    return scheduler


class SchedulerService:
    """One scheduler process: wins the election (PostgreSQL) or simply runs (SQLite).

    `run(stop)` blocks until `stop` is set, polling every `poll_interval` seconds: a standby
    tries for the lock; the leader checks that its lock connection is still alive and steps
    down (stops its jobs) when it is not.
    """

    def __init__(
        self,
        app: Flask,
        poll_interval: float = 10.0,
        specs: list[JobSpec] | None = None,
        starter: Callable[[Flask, list[JobSpec] | None], BackgroundScheduler] = start_scheduler,
    ) -> None:
        self.app = app
        self.poll_interval = poll_interval
        self.specs = specs
        self.starter = starter
        self.scheduler: BackgroundScheduler | None = None
        with app.app_context():
            self._url = db.engine.url
        self._elect = self._url.get_backend_name() == "postgresql"
        self._lock_engine: Engine | None = None
        self._lock_conn: Connection | None = None
        self.became_active = threading.Event()

    @property
    def is_active(self) -> bool:
        return self.scheduler is not None

    def _try_acquire(self) -> bool:
        if not self._elect:
            return True
        try:
            if self._lock_conn is None:
                if self._lock_engine is None:
                    self._lock_engine = create_engine(
                        self._url,
                        poolclass=NullPool,
                        isolation_level="AUTOCOMMIT",
                        connect_args={"options": LOCK_KEEPALIVES},
                    )
                self._lock_conn = self._lock_engine.connect()
            return bool(
                self._lock_conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
                ).scalar()
            )
        except Exception:  # noqa: BLE001 - database away: stay standby, retry next poll
            log.warning("scheduler election: database unavailable, retrying", exc_info=True)
            self._drop_lock_connection()
            return False

    def _lock_alive(self) -> bool:
        if not self._elect:
            return True
        try:
            self._lock_conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - the lock went with the connection
            log.error("scheduler lock connection lost: stepping down", exc_info=True)
            return False

    def _drop_lock_connection(self) -> None:
        if self._lock_conn is not None:
            try:
                self._lock_conn.close()  # closing the session releases the advisory lock
            except Exception:  # noqa: BLE001
                log.debug("closing a dead lock connection", exc_info=True)
            self._lock_conn = None

    def _become_active(self) -> None:
        log.info("scheduler active (leader)")
        self.scheduler = self.starter(self.app, self.specs)
        self.became_active.set()

    def step_down(self) -> None:
        """Stop running jobs (waiting for a running one to finish) and release the lock."""
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=True)
            finally:
                self.scheduler = None
                self.became_active.clear()
            log.info("scheduler stopped")
        self._drop_lock_connection()

    def poll(self) -> None:
        """One election step (tests call it directly; `run` calls it in a loop)."""
        if self.scheduler is None:
            if self._try_acquire():
                self._become_active()
        elif not self._lock_alive():
            self.step_down()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll()
                stop.wait(self.poll_interval)
        finally:
            self.step_down()
            if self._lock_engine is not None:
                self._lock_engine.dispose()


def describe_jobs(scheduler: BackgroundScheduler) -> list[str]:
    """One line per installed job: id, trigger and next run (for the CLI's start-up banner)."""
    lines = []
    for job in scheduler.get_jobs():
        when = job.next_run_time.isoformat() if job.next_run_time else "paused"
        lines.append(f"{job.id:18} {job.trigger}  next {when}")
    return lines


__all__ = [
    "LEADER_LOCK_KEY",
    "JobSpec",
    "SchedulerService",
    "build_scheduler",
    "describe_jobs",
    "install_jobs",
    "job_specs",
    "start_scheduler",
]
