"""Notices: a stored final packet (without rendering it) and a notice sent with proof."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from compliance.actor import Actor
from compliance.db import utcnow
from compliance.extensions import db
from compliance.notices.operations import Upload, create_recipient

PLATFORM = {
    "name": "Modelhaven Hosting B.V. (fictional)",
    "kind": "hosting_platform",
    "jurisdiction": "NL",
    "email": "notices@modelhaven.example",
    "web_form_url": "https://modelhaven.example/legal/report",
    "agent_name": "Modelhaven Legal Desk",
    "agent_registration": "DMCA-1000001",
    "accepted_bases": ["copyright", "terms", "dsa"],
    "in_sharing_community": False,
    "response_days": 5,
}
PROOF = Upload("receipt.eml", "message/rfc822", b"From: noreply@modelhaven.example\n\nTicket MH-77")


@pytest.fixture
def counsel(actor_for: Callable[[str], Actor]) -> Actor:
    return actor_for("counsel")


@pytest.fixture
def recipient(app: Any, counsel: Actor) -> Any:
    entry = create_recipient(counsel, dict(PLATFORM))
    db.session.commit()
    return entry


@pytest.fixture
def stored_packet(make_case: Callable[..., Any], counsel: Actor) -> Callable[..., Any]:
    """Factory: a final packet as a build leaves it (stored), without the seconds of a render."""
    from compliance.evidence.store import blob_store
    from compliance.packets.operations import request_packet

    def factory(packet_type: str = "takedown", case: Any = None, **fields: Any) -> Any:
        case = case or make_case(summary="212 accounts, templated prompts")
        packet = request_packet(case, packet_type, counsel, draft=True)
        data = f"%PDF-1.7 stand-in {packet.id}".encode()
        packet.sha256, _created = blob_store().put(data)
        packet.draft, packet.status, packet.size_bytes = False, "stored", len(data)
        packet.built_at = utcnow() - timedelta(days=3)
        packet.request_fields = {
            "recipient": "Modelhaven Hosting",
            "offending_urls": ["https://modelhaven.example/acme/distilled-7b/"],
            "repository": "https://modelhaven.example/acme/distilled-7b",
            "files": ["a" * 64, "model.safetensors"],
            **fields,
        }
        db.session.commit()
        return packet

    return factory


@pytest.fixture
def send(counsel: Actor) -> Callable[..., Any]:
    """Factory: mark a packet sent (the one way a notice is born) and return its notice."""
    from compliance.notices.models import Notice
    from compliance.notices.operations import mark_sent

    def factory(packet: Any, **kw: Any) -> Notice:
        kw.setdefault("recipient", "")
        kw.setdefault("channel", "email")
        kw.setdefault("sent_on", utcnow() - timedelta(days=2))
        mark_sent(packet, kw.pop("actor", counsel), **kw)
        db.session.commit()
        return db.session.scalar(db.select(Notice).where(Notice.packet_id == packet.id))

    return factory
