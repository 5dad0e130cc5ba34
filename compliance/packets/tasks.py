"""Packet builds off the request path: the scheduler (or `compliance packet work`) runs these."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from compliance.db import utcnow
from compliance.extensions import db
from compliance.packets.models import Packet
from compliance.packets.operations import BuildResult, build_packet, mark_failed

log = logging.getLogger(__name__)

# A render of the largest packets takes well under this; a build still "rendering" after it
# belongs to a worker that died (killed, out of memory, machine lost).
STALE_AFTER = timedelta(minutes=30)


def fail_stale_builds(now: datetime | None = None) -> list[int]:
    """Mark builds stuck in `rendering` as failed (their Bates range, if any, becomes a gap)."""
    limit = (now or utcnow()) - STALE_AFTER
    stale = list(
        db.session.scalars(
            select(Packet.id).where(Packet.status == "rendering", Packet.started_at < limit)
        )
    )
    db.session.rollback()
    for packet_id in stale:
        mark_failed(packet_id, f"the build did not finish within {STALE_AFTER}: worker lost")
    return stale


def build_queued_packets(limit: int = 20) -> list[BuildResult]:
    """Fail stale builds, then build queued packets oldest first (scheduler job target)."""
    fail_stale_builds()
    queued = list(
        db.session.scalars(
            select(Packet.id)
            .where(Packet.status == "queued")
            .order_by(Packet.requested_at, Packet.id)
            .limit(limit)
        )
    )
    db.session.rollback()
    results = []
    for packet_id in queued:
        result = build_packet(packet_id)
        log.info("packet %s: %s", packet_id, result.packet.status)
        results.append(result)
    return results


def packets_queued(now: datetime | None = None) -> dict[str, Any]:
    """Build packets that users queued (PDF rendering stays off the request path)."""
    results = build_queued_packets()
    db.session.commit()
    return {"built": [f"{r.packet.id}:{r.packet.status}" for r in results]}
