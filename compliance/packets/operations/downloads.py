"""Reading a stored packet: its bytes, hash-checked, and the downloads people make of it.

Each download is an audit event (repeats within minutes are one) and a custody event for
every evidence item inside the packet: the exhibits left with it.
"""

from __future__ import annotations

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import READ_WINDOW, record, recorded_since
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, PermissionDenied
from compliance.extensions import db
from compliance.packets.models import Packet
from compliance.packets.operations.requests import may_read


def packet_bytes(packet: Packet) -> bytes:
    """The stored PDF, checked against the hash recorded when it was built."""
    from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

    if packet.status != "stored" or not packet.sha256:
        raise Conflict(f"packet {packet.id} is {packet.status}, there is no file to read")
    try:
        return checked_bytes(blob_store(), packet.sha256)
    except BlobDamaged as damage:
        raise Conflict(
            f"packet {packet.id} file is {damage.status} in the store (sha256={packet.sha256})"
        ) from None


def download_packet(packet: Packet, actor: Actor, purpose: str = "downloaded") -> bytes:
    """The packet's bytes for a person; each download is a custody and an audit event."""
    require_permission(actor, "packet.view")
    if not may_read(packet, actor):
        raise PermissionDenied("a privileged memo is for counsel only")
    data = packet_bytes(packet)
    _record_exhibit_custody(packet, actor, "exported", f"in packet {packet.id}: {purpose}")
    # Downloads repeated within minutes are one event (the exhibits' custody counts them).
    since = utcnow() - READ_WINDOW
    if not recorded_since(
        "packet.downloaded", actor=actor, object_type="packet", object_id=packet.id, since=since
    ):
        record(
            "packet.downloaded",
            actor=actor,
            object_type="packet",
            object_id=packet.id,
            case=packet.case,
            details={"sha256": packet.sha256, "purpose": purpose[:300]},
        )
    return data


def _record_exhibit_custody(packet: Packet, actor: Actor, action: str, purpose: str) -> None:
    """Each evidence item inside the packet gets a custody event: it left with the packet."""
    from compliance.evidence.models import EvidenceItem
    from compliance.evidence.operations import record_custody

    items = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == packet.case_id).order_by(EvidenceItem.id)
    )
    for item in items:
        record_custody(item, actor, action, purpose, details={"packet_id": packet.id})
