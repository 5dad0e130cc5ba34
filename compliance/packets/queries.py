"""What the pages ask about packets, as queries (views load -> check -> act -> respond).

The dashboard's queue of packets counsel has still to send: it reads only the columns it shows.
"""

from __future__ import annotations

from sqlalchemy import Row, select

from compliance.cases.models import Case
from compliance.cases.queries import QUEUE_LIMIT
from compliance.extensions import db
from compliance.packets.models import Packet


def packets_ready_to_send(limit: int = QUEUE_LIMIT) -> list[Row]:
    """Final packets built and stored, not yet recorded as sent (type, Bates start, case)."""
    return db.session.execute(
        select(
            Packet.packet_type, Packet.bates_prefix, Packet.bates_first, Case.ref.label("case_ref")
        )
        .join(Case, Case.id == Packet.case_id)
        .where(
            Packet.status == "stored",
            Packet.draft.is_(False),
            Packet.sent_on.is_(None),
            Packet.packet_type != "memo",
        )
        .order_by(Packet.requested_at.desc())
        .limit(limit)
    ).all()
