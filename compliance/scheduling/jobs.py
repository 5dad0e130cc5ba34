"""Every scheduled job of the application, in one table.

A job is a function in its domain's `tasks.py` that takes an optional `now`, commits its own
work (one subject at a time where it can) and returns a summary for the job-run log. To add
one, write that function and add one `Job(...)` line to TABLE: the scheduler installs it under
its fixed id (a restart replaces, never duplicates) and `run_job` runs it by that id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from compliance.actor import Actor
from compliance.evidence.tasks import evidence_nightly
from compliance.extensions import db
from compliance.intel.tasks import poll_taxii_feeds, rematch_intel
from compliance.notices.reminders import notice_reminders
from compliance.packets.tasks import packets_queued
from compliance.reviews.tasks import retention_checks, reviews_due, reviews_escalate, send_outbox
from compliance.trail.tasks import audit_chain_nightly

Summary = dict[str, Any]
HOUR = 3600


def backup_drill(now: datetime | None = None) -> Summary:
    """Prove a backup restores (the newest in BACKUP_DIR, else a fresh one): a restore drill
    into a temporary instance; the verdict is audited and shown on the audit page."""
    from compliance.backup import drill  # the backup module is large; only this job needs it

    report = drill(Actor.system("backup-drill"))
    db.session.commit()
    if not report.ok:
        raise RuntimeError(report.verdict)
    return {"verdict": report.verdict, "tables": report.tables, "files": report.files}


def every(**interval: int) -> Callable[[Mapping[str, Any]], BaseTrigger]:
    """A fixed interval in UTC (`every(minutes=5)`)."""
    return lambda _config: IntervalTrigger(timezone="UTC", **interval)


def at(**fields: Any) -> Callable[[Mapping[str, Any]], BaseTrigger]:
    """Cron fields in UTC (`at(hour=2, minute=30)`)."""
    return lambda _config: CronTrigger(timezone="UTC", **fields)


def every_setting(key: str, default: int) -> Callable[[Mapping[str, Any]], BaseTrigger]:
    """An interval in seconds taken from a setting (COMPLIANCE_<key>)."""
    return lambda config: IntervalTrigger(seconds=int(config.get(key, default)), timezone="UTC")


@dataclass(frozen=True)
class Job:
    """One scheduled job: fixed id, its function, when it runs, how late it may still run."""

    id: str
    run: Callable[[datetime | None], Summary]
    trigger: Callable[[Mapping[str, Any]], BaseTrigger]  # from the app's config
    misfire_grace_time: int  # seconds: a run missed by up to this much still happens once
    name: str


TABLE: list[Job] = [
    Job("reviews-due", reviews_due, every(minutes=5), HOUR, "Mark reviews due/overdue and notify"),
    Job(
        "reviews-escalate",
        reviews_escalate,
        every(minutes=15),
        HOUR,
        "Escalate long-overdue reviews to counsel",
    ),
    Job("send-outbox", send_outbox, every(minutes=1), HOUR, "Send e-mails"),
    Job(
        "retention-checks",
        retention_checks,
        at(hour=1, minute=30),
        6 * HOUR,
        "Reconcile case, hold and policy reviews",
    ),
    Job(
        "audit-nightly",
        audit_chain_nightly,
        at(hour=2, minute=0),
        6 * HOUR,
        "Verify the audit chain and export a checkpoint",
    ),
    Job(
        "evidence-nightly",
        evidence_nightly,
        at(hour=2, minute=30),
        6 * HOUR,
        "Re-verify evidence blobs",
    ),
    Job(
        "backup-drill",
        backup_drill,
        at(day_of_week="sun", hour=3, minute=30),
        24 * HOUR,
        "Restore drill: prove a backup restores with every row and file",
    ),
    Job(
        "packets-queued",
        packets_queued,
        every_setting("PACKET_POLL_SECONDS", 20),  # how long a queued packet may wait
        HOUR,
        "Build queued packets",
    ),
    Job(
        "intel-rematch",
        rematch_intel,
        every(hours=1),
        6 * HOUR,
        "Match kept intel bundles against new subjects",
    ),
    Job(
        "intel-taxii-poll",
        poll_taxii_feeds,
        every(minutes=15),
        HOUR,
        "Pull partner labs' TAXII collections",
    ),
    Job(
        "notice-reminders",
        notice_reminders,
        every(minutes=30),
        6 * HOUR,
        "Remind notices' owners of deadlines; escalate passed ones",
    ),
]

# What `run_job` looks a job id up in (tests add a job of their own to it).
JOBS: dict[str, Callable[[datetime | None], Summary]] = {job.id: job.run for job in TABLE}
