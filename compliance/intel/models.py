"""Threat-intelligence sharing: bundles we exported, bundles we received, and what matched.

A received bundle's bytes live in the evidence blob store under `sha256`; its indicators are
kept as rows so that subjects arriving later can be matched without re-reading the bundle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.cases.models import Case
from compliance.db import BigId, check, one_of, utcnow
from compliance.evidence.models import BLOB_REFERENCES
from compliance.extensions import db

# TLP 2.0 levels, from the least to the most restrictive.
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")
# Material received under these never leaves the building (packets, re-exports).
RESTRICTED_TLP = ("amber+strict", "red")
# What a TAXII collection may serve: RED is for named recipients only and is never published.
PUBLISHABLE_TLP = ("clear", "green", "amber", "amber+strict")
MATCH_KINDS = ("hmac", "ip_prefix", "domain")


class IntelExport(db.Model):
    """One STIX bundle counsel shared: with whom, when, under which TLP, and its hash."""

    __tablename__ = "intel_exports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    recipient: Mapped[str] = mapped_column(String(300))
    tlp: Mapped[str] = mapped_column(String(20))
    bundle_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # What left the building, as counsel reviewed it: [{"type", "shared_as", "value"}], and
    # the findings summarised (ids, kinds, windows). Raw identifiers of hashed types are absent.
    shared_subjects: Mapped[list[Any]] = mapped_column(default=list)
    shared_findings: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(300))
    created_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Served from our TAXII server in this collection, from this time (None: not published).
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("taxii_collections.id"))
    published_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()
    collection: Mapped[TaxiiCollection | None] = relationship()

    __table_args__ = (
        Index("ix_intel_exports_case_id_id", "case_id", "id"),
        Index("ix_intel_exports_collection_id_published_at", "collection_id", "published_at"),
        one_of("tlp", TLP_LEVELS),
        check("size_bytes >= 0", "size_bytes"),
    )

    @property
    def tlp_label(self) -> str:
        return f"TLP:{self.tlp.upper()}"


class IntelImport(db.Model):
    """A bundle another lab sent us, kept whole (blob store) whether or not anything matched."""

    __tablename__ = "intel_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(255), default="")
    tlp: Mapped[str] = mapped_column(String(20))
    # True when the bundle carried no TLP marking and configuration assigned one.
    tlp_assumed: Mapped[bool] = mapped_column(default=False)
    bundle_id: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    object_count: Mapped[int] = mapped_column(default=0)
    indicator_count: Mapped[int] = mapped_column(default=0)
    # Subjects with ids up to this one have been matched against the bundle's indicators.
    matched_through_subject_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_matched_at: Mapped[datetime | None]
    # What the sender says about the conduct (not our receipt): campaigns' first/last seen,
    # observed-data windows, and the earliest indicator valid_from.
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    valid_from: Mapped[datetime | None]
    # Pulled from a partner's TAXII collection (None: uploaded by hand or from the CLI).
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("taxii_feeds.id"))
    imported_by: Mapped[str] = mapped_column(String(300))
    imported_by_name: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    indicators: Mapped[list[IntelIndicator]] = relationship(
        back_populates="intel_import", order_by="IntelIndicator.id"
    )

    __table_args__ = (
        Index("ix_intel_imports_imported_at", "imported_at"),
        one_of("tlp", TLP_LEVELS),
        check("size_bytes >= 0", "size_bytes"),
    )

    @property
    def restricted(self) -> bool:
        return self.tlp in RESTRICTED_TLP

    @property
    def tlp_label(self) -> str:
        return f"TLP:{self.tlp.upper()}"


class IntelIndicator(db.Model):
    """One matchable value from a received indicator: an HMAC, an IP prefix or a domain."""

    __tablename__ = "intel_indicators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("intel_imports.id"))
    stix_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300), default="")
    match_kind: Mapped[str] = mapped_column(String(20))  # hmac, ip_prefix, domain
    subject_type: Mapped[str] = mapped_column(String(30), default="")  # as the sender declared
    value: Mapped[str] = mapped_column(String(500))
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]

    intel_import: Mapped[IntelImport] = relationship(back_populates="indicators")

    __table_args__ = (
        Index("ix_intel_indicators_match_kind_value", "match_kind", "value"),
        Index("ix_intel_indicators_import_id", "import_id"),
        one_of("match_kind", MATCH_KINDS),
    )


class IntelMatch(db.Model):
    """A received indicator that matched one of our subjects on one of our cases."""

    __tablename__ = "intel_matches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("intel_imports.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("intel_indicators.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    # The account_linkage finding the match produced (None when the case was not open).
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)

    intel_import: Mapped[IntelImport] = relationship(lazy="joined")
    indicator: Mapped[IntelIndicator] = relationship(lazy="joined")
    case: Mapped[Case] = relationship()

    __table_args__ = (
        UniqueConstraint("indicator_id", "subject_id", "case_id"),
        Index("ix_intel_matches_case_id", "case_id"),
        Index("ix_intel_matches_finding_id", "finding_id"),
        Index("ix_intel_matches_import_id", "import_id"),
    )


class TaxiiCollection(db.Model):
    """A collection our TAXII server offers one sharing community; TLP caps what it serves."""

    __tablename__ = "taxii_collections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    taxii_id: Mapped[str] = mapped_column(String(36), unique=True)  # the id partners see (UUID)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    community: Mapped[str] = mapped_column(String(300))
    # The most restrictive marking this collection may serve (never RED: RED is for named
    # recipients only and is not published).
    max_tlp: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (one_of("max_tlp", PUBLISHABLE_TLP),)

    @property
    def tlp_label(self) -> str:
        return f"TLP:{self.max_tlp.upper()}"


class PartnerToken(db.Model):
    """A partner lab's bearer token for one TAXII collection; only its SHA-256 is stored."""

    __tablename__ = "taxii_partner_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner: Mapped[str] = mapped_column(String(300))  # the organisation, as exports name it
    collection_id: Mapped[int] = mapped_column(ForeignKey("taxii_collections.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    collection: Mapped[TaxiiCollection] = relationship(lazy="joined")

    @property
    def actor_label(self) -> str:
        return f"taxii:{self.partner}"


class TaxiiFeed(db.Model):
    """A partner's TAXII 2.1 collection we pull from (and may push to).

    The credential is never stored in clear: `secret` is encrypted (Fernet) with the key in
    the instance folder (INTEL_FEED_KEY_PATH).
    """

    __tablename__ = "taxii_feeds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner: Mapped[str] = mapped_column(String(300))  # the source name of what we import
    api_root_url: Mapped[str] = mapped_column(String(500))
    collection: Mapped[str] = mapped_column(String(100))  # the partner's collection id
    username: Mapped[str] = mapped_column(String(200), default="")  # empty: bearer token
    secret: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    # added_after for the next poll: the partner server's own date_added, never our clock.
    cursor: Mapped[str | None] = mapped_column(String(40))
    last_polled_at: Mapped[datetime | None]
    last_result: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


BLOB_REFERENCES.extend([IntelExport.sha256, IntelImport.sha256])  # files kept in the evidence store
