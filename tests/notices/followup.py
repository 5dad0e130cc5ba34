"""Builders for the after-sending tests: a directory recipient, a stored final packet (without
the seconds of a render) and its notice, born the one way notices are born (marking it sent)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from compliance.actor import Actor
from compliance.db import utcnow
from compliance.extensions import db
from compliance.notices.models import Notice, Recipient
from compliance.notices.operations import create_recipient

US_PLATFORM = {
    "name": "Tensorloft Inc. (fictional)",
    "kind": "hosting_platform",
    "jurisdiction": "US",
    "email": "dmca@tensorloft.example",
    "web_form_url": "https://tensorloft.example/legal/dmca",
    "agent_name": "Tensorloft Copyright Agent",
    "agent_registration": "DMCA-1099999",
    "accepted_bases": ["copyright", "terms"],
    "in_sharing_community": False,
    "response_days": 5,
}
MODEL_FILE_SHA256 = "5f" * 32
REPOSITORY = "https://tensorloft.example/acme/distilled-7b"


def make_recipient(actor: Actor, **fields: Any) -> Recipient:
    recipient = create_recipient(actor, {**US_PLATFORM, **fields})
    db.session.commit()
    return recipient


def stored_packet(
    case: Any,
    actor: Actor,
    packet_type: str = "takedown",
    built_at: datetime | None = None,
    **fields: Any,
) -> Any:
    """A final packet as a build leaves it (stored, hashed), naming the targeted material."""
    from compliance.evidence.store import blob_store
    from compliance.packets.operations import request_packet

    packet = request_packet(case, packet_type, actor, draft=True)
    data = f"%PDF-1.7 stand-in {packet.id}".encode()
    packet.sha256, _created = blob_store().put(data)
    packet.draft, packet.status, packet.size_bytes = False, "stored", len(data)
    packet.built_at = (built_at or utcnow()) - timedelta(days=1)
    packet.request_fields = {
        "recipient": US_PLATFORM["name"],
        "offending_urls": [f"{REPOSITORY}/"],
        "repository": REPOSITORY,
        "files": [MODEL_FILE_SHA256.upper(), "model.safetensors"],
        **fields,
    }
    db.session.commit()
    return packet


def send_notice(
    case: Any,
    actor: Actor,
    recipient: Recipient | None = None,
    *,
    sent_on: datetime | None = None,
    owner_id: int | None = None,
    **fields: Any,
) -> Notice:
    """Mark a stored packet sent to `recipient` (a one-off name when None); its notice."""
    from compliance.notices.operations import mark_sent

    sent_on = sent_on or utcnow()
    packet = stored_packet(case, actor, built_at=sent_on, **fields)
    mark_sent(
        packet,
        actor,
        recipient="" if recipient else "A one-off host (fictional)",
        recipient_id=recipient.id if recipient else None,
        channel="email",
        sent_on=sent_on,
        owner_id=owner_id,
    )
    db.session.commit()
    return db.session.scalar(db.select(Notice).where(Notice.packet_id == packet.id))
