"""What the pages ask about cases, as queries (views load -> check -> act -> respond).

The work queues read only the columns they show: whole cases (each with its owner joined)
cost twice as much to load, for ten lines of links each.
"""

from __future__ import annotations

from sqlalchemy import Row, and_, select

from compliance.cases.models import OPEN_STATES, Case, CaseTransition
from compliance.extensions import db
from compliance.packets.models import Packet

QUEUE_LIMIT = 10


def my_open_cases(user_id: int, limit: int = QUEUE_LIMIT) -> list[Row]:
    """The open cases someone owns, the next review first (ref, title, state, next review)."""
    return db.session.execute(
        select(Case.ref, Case.title, Case.state, Case.next_review_at)
        .where(and_(Case.owner_id == user_id, Case.state.in_(OPEN_STATES)))
        .order_by(Case.next_review_at.asc().nulls_last(), Case.updated_at.desc())
        .limit(limit)
    ).all()


def new_reports(limit: int = QUEUE_LIMIT) -> list[Row]:
    """Cases still `reported`, newest first (ref, title, severity)."""
    return db.session.execute(
        select(Case.ref, Case.title, Case.severity)
        .where(Case.state == "reported")
        .order_by(Case.created_at.desc())
        .limit(limit)
    ).all()


def awaiting_approval_by(user_id: int, limit: int = QUEUE_LIMIT) -> list[Row]:
    """Cases in legal review this counsel may approve (four-eyes: not the one who sent)."""
    sent_by_them = (
        select(CaseTransition.id)
        .where(
            CaseTransition.case_id == Case.id,
            CaseTransition.to_state == "legal_review",
            CaseTransition.actor_user_id == user_id,
        )
        .exists()
    )
    return db.session.execute(
        select(Case.ref, Case.title)
        .where(Case.state == "legal_review", ~sent_by_them)
        .order_by(Case.updated_at)
        .limit(limit)
    ).all()


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
