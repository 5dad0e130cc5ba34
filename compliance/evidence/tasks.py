"""The evidence store's scheduled job: nightly re-verification of every blob."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from compliance.actor import Actor
from compliance.evidence.operations import verify_evidence
from compliance.extensions import db


def evidence_nightly(now: datetime | None = None) -> dict[str, Any]:
    """Re-verify every stored evidence blob against its SHA-256 (custody and audit record it)."""
    report = verify_evidence(Actor.system("evidence-nightly"))
    db.session.commit()
    if not report.ok:
        bad = ", ".join(f"sha256={sha} {status}" for sha, status in report.problems[:20])
        raise RuntimeError(f"evidence verification: {len(report.problems)} problem(s): {bad}")
    return {"items": report.items, "blobs": report.checked}
