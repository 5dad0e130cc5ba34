"""Demo step: a signing key, then draft takedown and referral packets for one demo case."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from compliance.auth.actor import Actor
from compliance.auth.models import User
from compliance.cases.models import Case
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.packets.models import Packet
from compliance.packets.operations import build_packet, request_packet

DEMO_COUNSEL = "casey.lindqvist@lab.example"
DEMO_FIELDS = {
    "takedown": {
        "recipient": "ModelHub Trust & Safety",
        "offending_url": "https://models.example/acme-ml/distilled-coder-7b",
        "repository": "acme-ml/distilled-coder-7b",
        "files": "model-00001-of-00002.safetensors\nmodel-00002-of-00002.safetensors\nconfig.json",
        "uploader": "acme-ml",
    },
    "referral": {"recipient": "FBI Cyber Division, San Francisco Field Office"},
}


def build_demo_packets(echo: Callable[[str], None]) -> None:
    """Draft takedown and referral for the demo case with the most evidence (idempotent)."""
    from compliance.packets.cli import ensure_demo_key

    echo("  " + ensure_demo_key())
    counsel = db.session.scalar(select(User).where(User.email == DEMO_COUNSEL))
    case = db.session.scalar(
        select(Case)
        .join(Finding, Finding.case_id == Case.id)
        .group_by(Case.id)
        .order_by(db.func.count(Finding.id).desc(), Case.id)
        .limit(1)
    )
    if counsel is None or case is None:
        echo("  no demo case with evidence: no demo packets")
        return
    actor = Actor.for_user(counsel)
    for packet_type in ("takedown", "referral"):
        existing = db.session.scalar(
            select(Packet.id).where(
                Packet.case_id == case.id, Packet.packet_type == packet_type, Packet.draft
            )
        )
        if existing:
            continue
        packet = request_packet(
            case, packet_type, actor, draft=True, fields=DEMO_FIELDS[packet_type]
        )
        db.session.commit()
        result = build_packet(packet.id)
        echo(
            f"  packet {packet.id}: draft {packet_type} for {case.ref} "
            f"({result.packet.status}, {result.packet.page_count} pages)"
        )
