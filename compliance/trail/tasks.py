"""The audit chain's scheduled job: nightly verification and a signed chain-head checkpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from compliance.actor import Actor
from compliance.extensions import db
from compliance.trail import checkpoints


def audit_chain_nightly(now: datetime | None = None) -> dict[str, Any]:
    """Verify the whole audit chain (the result is audited), then sign and export a
    chain-head checkpoint outside the database. A broken chain fails the job, loudly."""
    actor = Actor.system("audit-nightly")
    report = checkpoints.run_verification(actor)
    db.session.commit()
    summary: dict[str, Any] = {"events": report.count, "head_seq": report.head_seq}
    if report.ok:
        checkpoint = checkpoints.write_checkpoint(actor)
        db.session.commit()
        summary["checkpoint"] = checkpoint.file_name
    if not report.ok:
        raise RuntimeError(f"audit chain broken at seq={report.bad_seq}: {report.problem}")
    return summary
