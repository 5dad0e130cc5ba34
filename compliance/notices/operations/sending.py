"""Sending: a final packet goes out and becomes a notice, followed up until it is resolved.

`mark_sent` is the one way to record a sending: the packet's side (`packets.operations.
record_sending`), then the notice it becomes (`record_notice`), in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.notices.models import Notice, NoticeIdentifier, Recipient
from compliance.notices.operations.events import Upload, _event, _store_upload
from compliance.notices.operations.identifiers import identifiers_from_packet
from compliance.notices.operations.recipients import get_recipient
from compliance.packets.models import Packet
from compliance.packets.operations import record_sending


def mark_sent(
    packet: Packet,
    actor: Actor,
    *,
    recipient: str,
    channel: str,
    sent_on: datetime,
    recipient_id: int | None = None,
    their_reference: str = "",
    proof: Upload | None = None,
    owner_id: int | None = None,
) -> Packet:
    """Record that a final external packet went out: to whom, how, when, and who says so.

    The sending becomes a notice, followed until it is resolved: `recipient_id` names a
    directory entry (then `recipient` may be empty; by default the one the composition was
    addressed to), `proof` is an Upload kept as evidence, `owner_id` who follows it up
    (default: the sender).
    """
    require_permission(actor, "packet.send")
    if recipient_id is None and not (recipient or "").strip():
        recipient_id = (packet.request_fields or {}).get("recipient_id")
    directory = get_recipient(recipient_id) if recipient_id else None
    if directory is not None and not (recipient or "").strip():
        recipient = directory.name
    record_sending(packet, actor, recipient=recipient, channel=channel, sent_on=sent_on)
    record_notice(
        packet,
        actor,
        recipient=directory,
        recipient_name=packet.sent_to,
        channel=channel,
        sent_at=sent_on,
        their_reference=their_reference,
        proof=proof,
        owner_id=owner_id,
    )
    return packet


def record_notice(
    packet: Packet,
    actor: Actor,
    *,
    recipient: Recipient | None,
    recipient_name: str,
    channel: str,
    sent_at: datetime,
    their_reference: str = "",
    proof: Upload | None = None,
    owner_id: int | None = None,
) -> Notice:
    """The notice a packet becomes when it is sent (`mark_sent` calls this)."""
    their_reference = (their_reference or "").strip()
    if len(their_reference) > 200:
        raise InvalidInput(
            "the sending record is not complete",
            details={"their_reference": "at most 200 characters"},
        )
    case = packet.case
    item = None
    if proof is not None:
        item = _store_upload(
            case,
            actor,
            proof,
            f"Proof of sending packet {packet.id} to {recipient_name} ({channel})",
        )
    notice = Notice(
        case=case,
        packet=packet,
        packet_type=packet.packet_type,
        recipient=recipient,
        recipient_name=recipient_name,
        channel=channel,
        sent_at=sent_at,
        packet_sha256=packet.sha256,
        our_reference="",
        their_reference=their_reference,
        proof=item,
        state="sent",
        owner_id=owner_id or actor.user_id,
        referral_status="submitted" if packet.packet_type == "referral" else None,
        sent_by=actor.label,
    )
    db.session.add(notice)
    db.session.flush()
    notice.our_reference = f"{case.ref}-N{notice.id:04d}"
    _event(notice, actor, "sent", to_state="sent", occurred_at=sent_at, item=item)
    for kind, value in identifiers_from_packet(packet):
        notice.identifiers.append(NoticeIdentifier(kind=kind, value=value, added_by=actor.label))
    db.session.flush()
    record(
        "notice.sent",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=case,
        details={
            "packet_id": packet.id,
            "recipient_id": recipient.id if recipient else None,
            "recipient": recipient_name,
            "channel": channel,
            "sent_at": sent_at,
            "packet_sha256": packet.sha256,
            "our_reference": notice.our_reference,
            "their_reference": their_reference,
            "proof_sha256": item.sha256 if item else None,
            "identifiers": [list(p) for p in identifiers_from_packet(packet)],
        },
    )
    return notice
