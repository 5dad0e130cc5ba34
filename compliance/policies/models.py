"""Policy documents, their immutable versions and clauses, and clauses cited against cases."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.db import BigId, utcnow
from compliance.extensions import db

FRONT_MATTER_DELIMITER = "---"


class PolicyDocument(db.Model):
    """One policy (API Terms, Usage Policy): who owns it and when it is next reviewed."""

    __tablename__ = "policy_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)  # the front matter `document`
    title: Mapped[str] = mapped_column(String(300))
    short_title: Mapped[str] = mapped_column(String(60))
    owner: Mapped[str] = mapped_column(String(254))
    next_review_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    versions: Mapped[list[PolicyVersion]] = relationship(
        back_populates="document",
        order_by=lambda: [PolicyVersion.effective_from, PolicyVersion.id],
    )

    __table_args__ = (Index("ix_policy_documents_next_review_on", "next_review_on"),)

    def next_version(self, version: PolicyVersion) -> PolicyVersion | None:
        """The version that follows `version` in effective-date order, if any."""
        later = [v for v in self.versions if v.effective_from > version.effective_from]
        return min(later, key=lambda v: v.effective_from) if later else None

    def previous_version(self, version: PolicyVersion) -> PolicyVersion | None:
        """The version that precedes `version` in effective-date order, if any."""
        earlier = [v for v in self.versions if v.effective_from < version.effective_from]
        return earlier[-1] if earlier else None

    def version_in_force_on(self, day: date) -> PolicyVersion | None:
        """The version whose effective period contains `day` (the latest one if several do)."""
        matching = [v for v in self.versions if v.covers(day, day)]
        return matching[-1] if matching else None

    @property
    def current_version(self) -> PolicyVersion | None:
        return self.version_in_force_on(utcnow().date())

    def __repr__(self) -> str:
        return f"<PolicyDocument {self.key}>"


class PolicyVersion(db.Model):
    """A published version: the file's full text and its SHA-256 never change once stored."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("policy_documents.id"))
    version: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    effective_from: Mapped[date] = mapped_column(Date)
    # Only set when the file declares an end (a withdrawn document); otherwise the end is
    # derived from the next version, because a stored version can never be updated.
    declared_effective_to: Mapped[date | None] = mapped_column(Date)
    source_path: Mapped[str] = mapped_column(String(500))
    full_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_by: Mapped[str] = mapped_column(String(300))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[PolicyDocument] = relationship(back_populates="versions")
    clauses: Mapped[list[PolicyClause]] = relationship(
        back_populates="version", order_by="PolicyClause.position"
    )

    __table_args__ = (
        UniqueConstraint("document_id", "version"),
        Index("ix_policy_versions_document_id_effective_from", "document_id", "effective_from"),
    )

    @property
    def effective_to(self) -> date | None:
        """The last day in force: declared, or the day before the next version takes effect."""
        if self.declared_effective_to is not None:
            return self.declared_effective_to
        following = self.document.next_version(self)
        return following.effective_from - timedelta(days=1) if following else None

    def covers(self, start: date, end: date) -> bool:
        """True when this version was in force on any day from `start` to `end` inclusive."""
        last = self.effective_to
        return self.effective_from <= end and (last is None or last >= start)

    @property
    def body(self) -> str:
        """The Markdown after the front matter."""
        text = self.full_text.lstrip("\ufeff")
        if text.startswith(FRONT_MATTER_DELIMITER):
            parts = text.split("\n" + FRONT_MATTER_DELIMITER, 1)
            if len(parts) == 2:
                return parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
        return text

    @property
    def label(self) -> str:
        return f"{self.document.short_title} v{self.version}"

    def hash_matches(self) -> bool:
        """Re-check the stored text against its stored SHA-256."""
        return hashlib.sha256(self.full_text.encode("utf-8")).hexdigest() == self.sha256

    def clause(self, number: str) -> PolicyClause | None:
        return next((c for c in self.clauses if c.number == number), None)

    def __repr__(self) -> str:
        return f"<PolicyVersion {self.document.key}@{self.version}>"


class PolicyClause(db.Model):
    """A numbered clause of one version (`## 4.2 Automated extraction` and its text)."""

    __tablename__ = "policy_clauses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    number: Mapped[str] = mapped_column(String(20))
    heading: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int]

    version: Mapped[PolicyVersion] = relationship(back_populates="clauses")

    __table_args__ = (UniqueConstraint("version_id", "number"),)

    @property
    def reference(self) -> str:
        """The scripting form: `api-terms@2026-03#4.2`."""
        return f"{self.version.document.key}@{self.version.version}#{self.number}"

    def citation(self) -> str:
        """How counsel cites it: `API Terms v2026-03 §4.2 (effective 2026-03-01)`."""
        version = self.version
        return (
            f"{version.document.short_title} v{version.version} §{self.number} "
            f"(effective {version.effective_from.isoformat()})"
        )

    def __repr__(self) -> str:
        return f"<PolicyClause {self.reference}>"


class ClauseCitation(db.Model):
    """A clause cited against a case (optionally against one evidence item), with why."""

    __tablename__ = "clause_citations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    clause_id: Mapped[int] = mapped_column(ForeignKey("policy_clauses.id"))
    evidence_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    note: Mapped[str] = mapped_column(Text)
    # False when the clause version was not in force during the incident window at citing
    # time; such a citation needs an override reason.
    in_force: Mapped[bool] = mapped_column(default=True)
    override_reason: Mapped[str | None] = mapped_column(Text)
    cited_by: Mapped[str] = mapped_column(String(300))
    cited_by_name: Mapped[str] = mapped_column(String(200))
    cited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cited_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Withdrawn citations stay on record (who withdrew it, when and why).
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(300))
    removal_reason: Mapped[str | None] = mapped_column(Text)

    clause: Mapped[PolicyClause] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_clause_citations_case_id_removed_at", "case_id", "removed_at"),
        Index("ix_clause_citations_clause_id", "clause_id"),
    )

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def citation(self) -> str:
        return self.clause.citation()
