"""Periodic intel work for the scheduler: match kept bundles against subjects that arrived since."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from compliance.auth.actor import Actor
from compliance.extensions import db
from compliance.intel.operations import match_imports


def rematch_intel(now: datetime | None = None) -> dict[str, Any]:
    """Match every kept bundle against new subjects; commits (a scheduler job target).

    Cheap when nothing arrived: each bundle remembers the last subject it was matched against.
    """
    matches = match_imports(Actor.system("intel-rematch"))
    summary = {
        "matches": len(matches),
        "cases": sorted({m.case.ref for m in matches}),
    }
    db.session.commit()
    return summary
