"""Packet builds off the request path: the scheduler (or `compliance packet work`) runs these.

The worker owns the build's transactions; the operations it calls flush and audit. It commits
at the points a crash must not undo: once it has taken a packet (no other worker takes it, and
a lost worker's build is later failed as stale), once the Bates range is reserved (before the
slow write and signing: a crash after that never hands the same numbers out again, and the
range becomes a gap), once the packet is stored, and once a failure is recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from compliance.db import utcnow
from compliance.extensions import db
from compliance.packets import render
from compliance.packets.models import Packet
from compliance.packets.operations import (
    MAX_LAYOUT_ATTEMPTS,
    BuildResult,
    Layout,
    document_for_build,
    get_packet,
    lay_out,
    mark_failed,
    reserve_numbers,
    start_build,
    store_packet,
)

log = logging.getLogger(__name__)

# A render of the largest packets takes well under this; a build still "rendering" after it
# belongs to a worker that died (killed, out of memory, machine lost).
STALE_AFTER = timedelta(minutes=30)


def build_packet(
    packet_id: int, *, sign: bool | None = None, now: datetime | None = None
) -> BuildResult:
    """Render, number, sign and store a queued packet; on any error mark it failed with why.

    Commits (see the module docstring). Returns the packet and, when stored, its bytes.
    """
    now = (now or utcnow()).replace(microsecond=0)
    packet = start_build(packet_id, now)
    if packet is None:  # another worker took it
        db.session.rollback()
        return BuildResult(get_packet(packet_id), None)
    db.session.commit()
    reserved = False
    try:
        layout = lay_out(packet, document_for_build(packet))
        if layout.bates is not None:
            layout = _reserve(packet, layout)
            reserved = True
        result = store_packet(packet, layout, sign=sign)
        db.session.commit()
        return result
    except Exception as error:  # noqa: BLE001 - any failure must leave a failed record
        db.session.rollback()
        log.exception("packet %s build failed", packet_id)
        return fail_build(packet_id, f"{type(error).__name__}: {error}", reserved=reserved)


def _reserve(packet: Packet, layout: Layout) -> Layout:
    """Reserve the layout's Bates range and commit it: the numbers are spent from here on."""
    for _attempt in range(MAX_LAYOUT_ATTEMPTS):
        reserved = reserve_numbers(packet, layout)
        if reserved is not None:
            db.session.commit()  # the range (audited by reserve_range) is now spent
            return reserved
        db.session.rollback()  # another build took those numbers: lay out again
        layout = lay_out(packet, layout.doc)
    raise render.RenderError("could not reserve a Bates range (too much contention)")


def fail_build(packet_id: int, reason: str, *, reserved: bool | None = None) -> BuildResult:
    """Record a build as failed (its reserved range a gap) and commit it."""
    mark_failed(packet_id, reason, reserved=reserved)
    db.session.commit()
    return BuildResult(get_packet(packet_id), None)


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
        fail_build(packet_id, f"the build did not finish within {STALE_AFTER}: worker lost")
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
