"""Recording on a packet that it went out: to whom, how, when, and who says so.

The sending is one step of `compliance.notices.operations.mark_sent`, which also opens the
notice that follows the packet up; notices sit above packets, so the step that creates the
notice lives there and this part only checks and records the packet's side.
"""

from __future__ import annotations

from datetime import datetime

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, WorkflowRefused
from compliance.extensions import db
from compliance.packets.models import CHANNELS, EXTERNAL_TYPES, Packet


def _check_sendable(packet: Packet) -> None:
    """Only a stored final external packet, not yet recorded as sent, goes out."""
    if packet.draft:
        raise WorkflowRefused("a draft packet can never be marked as sent: build a final packet")
    if packet.packet_type not in EXTERNAL_TYPES:
        raise WorkflowRefused("an internal memo never leaves the building: it cannot be sent")
    if packet.status != "stored":
        raise WorkflowRefused(
            f"packet {packet.id} is {packet.status}: only stored packets are sent"
        )
    if packet.is_sent:
        raise Conflict(
            f"packet {packet.id} was already recorded as sent on {packet.sent_on:%Y-%m-%d}"
        )


def _check_sending(packet: Packet, recipient: str, channel: str, sent_on: datetime) -> None:
    errors = {}
    if not recipient:
        errors["recipient"] = "say who received it"
    elif len(recipient) > 300:
        errors["recipient"] = "at most 300 characters"
    if channel not in CHANNELS:
        errors["channel"] = "one of " + ", ".join(CHANNELS)
    if sent_on is None or sent_on.tzinfo is None:
        errors["sent_on"] = "a date with a time zone"
    elif sent_on > utcnow():
        errors["sent_on"] = "cannot be in the future"
    elif packet.built_at and sent_on < packet.built_at.replace(
        hour=0, minute=0, second=0, microsecond=0
    ):
        errors["sent_on"] = "cannot be before the packet was built"
    if errors:
        raise InvalidInput("the sending record is not complete", details=errors)


def record_sending(
    packet: Packet, actor: Actor, *, recipient: str, channel: str, sent_on: datetime
) -> Packet:
    """Record on a final external packet that it was sent (notices' `mark_sent` calls this,
    then opens the notice)."""
    require_permission(actor, "packet.send")
    _check_sendable(packet)
    recipient = (recipient or "").strip()
    _check_sending(packet, recipient, channel, sent_on)
    packet.sent_to, packet.sent_channel, packet.sent_on = recipient, channel, sent_on
    packet.sent_by, packet.sent_by_name = actor.label, actor.name or actor.label
    packet.sent_recorded_at = utcnow()
    db.session.flush()
    record(
        "packet.sent",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={
            "recipient": recipient,
            "channel": channel,
            "sent_on": sent_on,
            "sha256": packet.sha256,
            "bates": packet.bates_range,
        },
    )
    return packet
