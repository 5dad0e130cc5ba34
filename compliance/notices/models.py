"""The recipients directory and the notices sent to them: states, history, targeted material.

A notice is what a packet becomes once it leaves the building: who received it, how, when,
with what proof, and everything the recipient answered until it is resolved or withdrawn.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.auth.models import User
from compliance.cases.models import Case
from compliance.db import BigId, check, one_of, utcnow
from compliance.evidence.models import EvidenceItem
from compliance.extensions import db
from compliance.packets.models import CHANNELS, Packet

RECIPIENT_KINDS = {
    "hosting_platform": "Hosting platform",
    "agency": "Agency",
    "partner_lab": "Partner lab",
}
# The notice bases a recipient accepts: the keys of compliance.packets.composition.BASES.
NOTICE_BASES = ("copyright", "terms", "dsa")

NOTICE_STATES = {
    "sent": "Sent",
    "acknowledged": "Acknowledged",
    "counter_notice_received": "Counter-notice received",
    "resolved": "Resolved",
    "restored": "Restored",
    "suit_filed": "Suit filed",
    "withdrawn": "Withdrawn",
}
OPEN_NOTICE_STATES = ("sent", "acknowledged", "counter_notice_received")
FINAL_NOTICE_STATES = ("resolved", "restored", "suit_filed", "withdrawn")
OUTCOMES = {
    "removed": "Removed",
    "disabled": "Disabled",
    "refused": "Refused",
    "no_action": "No action",
}
IDENTIFIER_KINDS = {
    "url": "URL",
    "repository": "Repository",
    "file_sha256": "File SHA-256",
    "model_name": "Model name",
}
REFERRAL_STATUSES = {
    "submitted": "Submitted",
    "assigned": "Assigned to an agent",
    "information_requested": "More information requested",
    "under_investigation": "Under investigation",
    "declined": "Declined",
    "closed": "Closed by the agency",
}
EVENT_KINDS = (
    "sent",
    "acknowledged",
    "resolved",
    "counter_notice_received",
    "restored",
    "suit_filed",
    "withdrawn",
    "response",  # the recipient answered without a change of state
    "identifiers",
    "referral",
    "information_requested",
    "information_answered",
)


class Recipient(db.Model):
    """Someone we send notices or referrals to: a hosting platform, an agency, a partner lab."""

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)  # legal name
    kind: Mapped[str] = mapped_column(String(20))
    # ISO 3166-1 alpha-2 country code, and optionally an ISO 3166-2 subdivision ("CA" for
    # California): whose public holidays count when business days are counted.
    jurisdiction: Mapped[str] = mapped_column(String(2))
    subdivision: Mapped[str | None] = mapped_column(String(10))
    web_form_url: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    postal_address: Mapped[str] = mapped_column(Text, default="")
    # The designated agent for notices, where the recipient has one (a DMCA agent registered
    # with the U.S. Copyright Office, a DSA point of contact).
    agent_name: Mapped[str] = mapped_column(String(300), default="")
    agent_registration: Mapped[str] = mapped_column(String(100), default="")
    accepted_bases: Mapped[list[str]] = mapped_column(default=list)
    # Inside our intel-sharing community: TLP:AMBER material may be addressed to it.
    in_sharing_community: Mapped[bool] = mapped_column(default=False)
    # Our follow-up target: business days in which we expect an answer.
    response_days: Mapped[int] = mapped_column(default=10)
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        one_of("kind", RECIPIENT_KINDS),
        check("response_days >= 0 AND response_days <= 365", "response_days"),
        Index("ix_recipients_kind_name", "kind", "name"),
    )

    @property
    def kind_label(self) -> str:
        return RECIPIENT_KINDS.get(self.kind, self.kind)

    @property
    def contact(self) -> str:
        """The channels as one line, for a packet's recipient contact."""
        parts = [self.email, self.web_form_url]
        if self.agent_name:
            parts.insert(0, f"Designated agent: {self.agent_name}")
        return "; ".join(p for p in parts if p)

    def __repr__(self) -> str:
        return f"<Recipient {self.id} {self.name!r}>"


class Notice(db.Model):
    """One packet sent to one recipient, followed until it is resolved or withdrawn."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    packet_id: Mapped[int | None] = mapped_column(ForeignKey("packets.id"))
    packet_type: Mapped[str] = mapped_column(String(20))  # takedown or referral
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"))
    # As addressed: the directory entry's name then, or the free text of a one-off.
    recipient_name: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(20))
    sent_at: Mapped[datetime]
    packet_sha256: Mapped[str | None] = mapped_column(String(64))
    our_reference: Mapped[str] = mapped_column(String(100))
    their_reference: Mapped[str] = mapped_column(String(200), default="")
    proof_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    state: Mapped[str] = mapped_column(String(30), default="sent")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
    counter_notice_received_on: Mapped[date | None]
    resolved_at: Mapped[datetime | None]  # when it reached a final state
    outcome: Mapped[str | None] = mapped_column(String(20))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    # Referral follow-up (agencies).
    agency_case_number: Mapped[str] = mapped_column(String(100), default="")
    assigned_agent: Mapped[str] = mapped_column(String(200), default="")
    referral_status: Mapped[str | None] = mapped_column(String(30))
    sent_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship()
    packet: Mapped[Packet | None] = relationship()
    recipient: Mapped[Recipient | None] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(lazy="joined")
    proof: Mapped[EvidenceItem | None] = relationship()
    events: Mapped[list[NoticeEvent]] = relationship(
        back_populates="notice", order_by="NoticeEvent.id", cascade="all, delete-orphan"
    )
    identifiers: Mapped[list[NoticeIdentifier]] = relationship(
        back_populates="notice",
        order_by="NoticeIdentifier.id",
        cascade="all, delete-orphan",
    )
    information_requests: Mapped[list[InformationRequest]] = relationship(
        back_populates="notice", order_by="InformationRequest.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        one_of("state", NOTICE_STATES),
        one_of("channel", CHANNELS),
        one_of("packet_type", ("takedown", "referral")),
        one_of("outcome", OUTCOMES),  # NULL passes: no outcome yet
        one_of("referral_status", REFERRAL_STATUSES),  # NULL passes: not a referral
        Index("ix_notices_case_id_id", "case_id", "id"),
        Index("ix_notices_state_sent_at", "state", "sent_at"),
        Index("ix_notices_recipient_id_sent_at", "recipient_id", "sent_at"),
        Index("ix_notices_owner_id_state", "owner_id", "state"),
        Index("ix_notices_packet_id", "packet_id"),
    )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_NOTICE_STATES

    @property
    def state_label(self) -> str:
        return NOTICE_STATES.get(self.state, self.state)

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome or "", self.outcome or "")

    def __repr__(self) -> str:
        return f"<Notice {self.id} {self.state} to {self.recipient_name!r}>"


class NoticeEvent(db.Model):
    """One step in a notice's history: a change of state, an answer, an edit, with who and when."""

    __tablename__ = "notice_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    kind: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str | None] = mapped_column(String(30))
    # When it happened (the recipient's date, as the analyst records it) and when recorded.
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(300))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # The recipient's answer (or our proof of sending), kept as evidence on the case.
    evidence_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))

    notice: Mapped[Notice] = relationship(back_populates="events")
    evidence_item: Mapped[EvidenceItem | None] = relationship()

    __table_args__ = (
        one_of("kind", EVENT_KINDS),
        Index("ix_notice_events_notice_id_id", "notice_id", "id"),
    )


class NoticeIdentifier(db.Model):
    """An identifier of the material a notice targets: the re-upload watch matches on these."""

    __tablename__ = "notice_identifiers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    kind: Mapped[str] = mapped_column(String(20))
    # Normalised (see compliance.notices.operations.normalise_identifier) so lookups match.
    value: Mapped[str] = mapped_column(String(500))
    added_by: Mapped[str] = mapped_column(String(300))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    notice: Mapped[Notice] = relationship(back_populates="identifiers")

    __table_args__ = (
        one_of("kind", IDENTIFIER_KINDS),
        UniqueConstraint("notice_id", "kind", "value"),
        Index("ix_notice_identifiers_kind_value", "kind", "value"),
    )

    @property
    def kind_label(self) -> str:
        return IDENTIFIER_KINDS.get(self.kind, self.kind)


class InformationRequest(db.Model):
    """An agency's request for more information on a referral, and how we answered it."""

    __tablename__ = "notice_information_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    received_on: Mapped[date]
    request: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date | None]
    # The supplemental packet that answers it (started from the request, same case).
    answer_packet_id: Mapped[int | None] = mapped_column(ForeignKey("packets.id"))
    answered_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(String(300))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    notice: Mapped[Notice] = relationship(back_populates="information_requests")
    answer_packet: Mapped[Packet | None] = relationship()

    __table_args__ = (Index("ix_notice_information_requests_notice_id", "notice_id"),)
