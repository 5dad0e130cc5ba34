"""The packet registry, the global Bates counter and the record of Bates numbers never used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.auth.models import User
from compliance.cases.models import Case
from compliance.db import BigId, check, one_of, utcnow
from compliance.evidence.models import BLOB_REFERENCES
from compliance.extensions import db

PACKET_TYPES = ("takedown", "referral", "memo")
EXTERNAL_TYPES = ("takedown", "referral")  # may be sent outside the building
STATUSES = ("queued", "rendering", "stored", "failed")
CHANNELS = ("email", "web_form", "portal", "post", "courier", "other")


class Packet(db.Model):
    """One packet build: what was asked, what was produced (hash, Bates range), where it went."""

    __tablename__ = "packets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    packet_type: Mapped[str] = mapped_column(String(20))
    draft: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # The composition counsel chose (compliance.packets.composition.Composition, as stored).
    request_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A final packet is built from a preview (a draft of the same composition) and must come
    # out of the same inputs: their digest, and the inputs themselves to say what changed.
    preview_id: Mapped[int | None] = mapped_column(ForeignKey("packets.id"))
    inputs_sha256: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any] | None]
    template_version: Mapped[str] = mapped_column(String(20))
    bates_prefix: Mapped[str | None] = mapped_column(String(20))
    bates_first: Mapped[int | None] = mapped_column(BigInteger)
    bates_last: Mapped[int | None] = mapped_column(BigInteger)
    page_count: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    signed: Mapped[bool] = mapped_column(default=False)
    signer: Mapped[str | None] = mapped_column(String(300))
    requested_by: Mapped[str] = mapped_column(String(300))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    # The recorded build time: the PDF's dates come from it, so a rebuild gives the same bytes.
    built_at: Mapped[datetime | None]
    sent_to: Mapped[str | None] = mapped_column(String(300))
    sent_channel: Mapped[str | None] = mapped_column(String(20))
    sent_on: Mapped[datetime | None]
    sent_by: Mapped[str | None] = mapped_column(String(300))
    sent_by_name: Mapped[str | None] = mapped_column(String(200))
    sent_recorded_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(lazy="joined")
    preview: Mapped[Packet | None] = relationship(remote_side=[id])

    __table_args__ = (
        Index("ix_packets_case_id_id", "case_id", "id"),
        Index("ix_packets_preview_id", "preview_id"),
        Index("ix_packets_status_requested_at", "status", "requested_at"),
        Index("ix_packets_sha256", "sha256"),
        one_of("packet_type", PACKET_TYPES),
        one_of("status", STATUSES),
        one_of("sent_channel", CHANNELS),
        check("bates_first <= bates_last", "bates_range"),
        check("size_bytes >= 0", "size_bytes"),
    )

    @property
    def bates_range(self) -> str | None:
        if self.bates_first is None or self.bates_last is None:
            return None
        width = 7
        return (
            f"{self.bates_prefix}-{self.bates_first:0{width}d}"
            f" – {self.bates_prefix}-{self.bates_last:0{width}d}"
        )

    @property
    def failure_in_words(self) -> str | None:
        """Why a build failed, for the people on the case page: our own refusals as written,
        anything else (a database or programming error) without its text, which stays in the
        server log and in `failure_reason` for the CLI and the audit trail."""
        if self.status != "failed":
            return None
        reason = self.failure_reason or ""
        if reason.startswith("RenderError: "):
            return f"The packet could not be built: {reason.removeprefix('RenderError: ')}."
        if reason.startswith("the build did not finish"):
            return "The build stopped before it finished (its worker was lost)."
        return (
            "The build failed because of an unexpected error on our side; the details are in "
            f"the server log under packet {self.id}. Retry it; if it fails again, tell an "
            "administrator."
        )

    @property
    def is_sent(self) -> bool:
        return self.sent_on is not None

    @property
    def filename(self) -> str:
        kind = f"{self.packet_type}-DRAFT" if self.draft else self.packet_type
        return f"{self.case.ref}-{kind}-{self.id}.pdf"

    def __repr__(self) -> str:
        return f"<Packet {self.id} {self.packet_type} {self.status}>"


class SignatoryProfile(db.Model):
    """How a person signs what leaves the building: counsel on notices, a records custodian on
    business-records certifications. Each person keeps their own."""

    __tablename__ = "signatory_profiles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    postal_address: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(254))
    bar_admission: Mapped[str] = mapped_column(String(300), default="")
    # The person's own statement that they are a custodian of the lab's evidence records or
    # otherwise qualified to certify them (FRE 902(11)/(14)).
    records_custodian: Mapped[bool] = mapped_column(default=False)
    custodian_qualification: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "full_name": self.full_name,
            "title": self.title,
            "organisation": self.organisation,
            "postal_address": self.postal_address,
            "phone": self.phone,
            "bar_admission": self.bar_admission,
            "records_custodian": self.records_custodian,
            "custodian_qualification": self.custodian_qualification,
            "role": self.user.role,
        }


class BatesCounter(db.Model):
    """The last Bates number issued for a prefix: one row, locked while a range is reserved."""

    __tablename__ = "bates_counters"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class BatesGap(db.Model):
    """A reserved range that no stored packet carries (its build failed): never reused."""

    __tablename__ = "bates_gaps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(20))
    first_number: Mapped[int] = mapped_column(BigInteger)
    last_number: Mapped[int] = mapped_column(BigInteger)
    packet_id: Mapped[int | None] = mapped_column(ForeignKey("packets.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (check("first_number <= last_number", "range"),)


BLOB_REFERENCES.extend([Packet.sha256])  # files kept in the evidence store
