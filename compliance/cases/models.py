"""Cases, their workflow history, notes (with revisions), subjects and reference counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.auth.models import User
from compliance.db import BigId, check, one_of, utcnow
from compliance.extensions import db

STATES = (
    "reported",
    "triage",
    "investigating",
    "legal_review",
    "approved",
    "action_taken",
    "monitoring",
    "closed",
    "dismissed",
)
OPEN_STATES = STATES[:7]
SEVERITIES = ("low", "medium", "high", "critical")
ACTIONS = ("takedown", "referral")
DOMAINS = ("coding", "mathematics", "science", "reasoning", "creative_writing", "other")
SUBJECT_TYPES = ("account", "api_key", "org", "ip_prefix", "payment_fingerprint", "email_domain")


class Case(db.Model):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="reported")
    severity: Mapped[str] = mapped_column(String(10), default="medium")
    confidence: Mapped[float | None] = mapped_column(Float)
    suspected_actor: Mapped[str | None] = mapped_column(String(300))
    jurisdiction: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    incident_start: Mapped[datetime | None]
    incident_end: Mapped[datetime | None]
    estimated_queries: Mapped[int | None] = mapped_column(BigInteger)
    targeted_domains: Mapped[list[str]] = mapped_column(default=list)
    chosen_actions: Mapped[list[str]] = mapped_column(default=list)
    outcome: Mapped[str | None] = mapped_column(Text)
    legal_hold: Mapped[bool] = mapped_column(default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    next_review_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    transitions: Mapped[list[CaseTransition]] = relationship(
        back_populates="case", order_by="CaseTransition.id", cascade="all, delete-orphan"
    )
    notes: Mapped[list[CaseNote]] = relationship(
        back_populates="case", order_by="CaseNote.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    # The case list filters by state or severity (or nothing) and sorts by update, ties by id.
    # The id closes each index so PostgreSQL pages through it in order from the index alone
    # (SQLite's rowid does that implicitly): page 200 of 100,000 cases, 9.8 ms -> 0.6 ms there.
    __table_args__ = (
        Index("ix_cases_state_updated_at", "state", "updated_at", "id"),
        Index("ix_cases_owner_id_state", "owner_id", "state"),
        Index("ix_cases_severity_updated_at", "severity", "updated_at", "id"),
        Index("ix_cases_updated_at", "updated_at", "id"),
        Index("ix_cases_next_review_at", "next_review_at"),
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_state_created_at", "state", "created_at"),  # the dashboard's new reports
        one_of("state", STATES),
        one_of("severity", SEVERITIES),
        # A hold always says why (placing one needs a reason; releasing it clears the reason).
        check(
            "NOT legal_hold OR (legal_hold_reason IS NOT NULL AND trim(legal_hold_reason) <> '')",
            "hold_reason",
        ),
        check("confidence >= 0 AND confidence <= 1", "confidence"),
        check("estimated_queries >= 0", "estimated_queries"),
        check("incident_start <= incident_end", "incident_window"),
    )

    @property
    def review_request(self) -> CaseTransition | None:
        """The latest move into legal review: who asked for the approval, when, and why."""
        return next((t for t in reversed(self.transitions) if t.to_state == "legal_review"), None)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def snapshot(self) -> dict[str, Any]:
        """The editable fields, as the audit trail records them before and after a change."""
        return {
            "title": self.title,
            "summary": self.summary,
            "state": self.state,
            "severity": self.severity,
            "confidence": self.confidence,
            "suspected_actor": self.suspected_actor,
            "jurisdiction": self.jurisdiction,
            "owner_id": self.owner_id,
            "incident_start": self.incident_start,
            "incident_end": self.incident_end,
            "estimated_queries": self.estimated_queries,
            "targeted_domains": list(self.targeted_domains or []),
            "chosen_actions": list(self.chosen_actions or []),
            "outcome": self.outcome,
            "legal_hold": self.legal_hold,
            "legal_hold_reason": self.legal_hold_reason,
            "next_review_at": self.next_review_at,
        }

    def as_json(self, detail: bool = False) -> dict[str, Any]:
        """The case as the API answers it and `compliance case show --json` prints it."""

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        data: dict[str, Any] = {
            "ref": self.ref,
            "title": self.title,
            "state": self.state,
            "severity": self.severity,
            "confidence": self.confidence,
            "owner": self.owner.email if self.owner else None,
            "legal_hold": self.legal_hold,
            "incident_start": when(self.incident_start),
            "incident_end": when(self.incident_end),
            "next_review_at": when(self.next_review_at),
            "created_at": when(self.created_at),
            "updated_at": when(self.updated_at),
        }
        if detail:
            data |= {
                "summary": self.summary,
                "suspected_actor": self.suspected_actor,
                "jurisdiction": self.jurisdiction,
                "estimated_queries": self.estimated_queries,
                "targeted_domains": self.targeted_domains,
                "chosen_actions": self.chosen_actions,
                "outcome": self.outcome,
                "version": self.version,
                "transitions": [
                    {
                        "from": t.from_state,
                        "to": t.to_state,
                        "actor": t.actor,
                        "reason": t.reason,
                        "at": t.occurred_at.isoformat(),
                    }
                    for t in self.transitions
                ],
            }
        return data

    def __repr__(self) -> str:
        return f"<Case {self.ref} {self.state}>"


class CaseTransition(db.Model):
    """One workflow step: who moved the case, from where to where, when and why."""

    __tablename__ = "case_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    # The dashboard's "days to action" and "awaiting my approval" look transitions up by target.
    __table_args__ = (
        Index("ix_case_transitions_to_state_case_id", "to_state", "case_id"),
        one_of("from_state", STATES),
        one_of("to_state", STATES),
    )
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(300))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An approval records what it covers (cases.approval.approval_content) and its SHA-256.
    covers: Mapped[dict[str, Any] | None]
    covers_sha256: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case] = relationship(back_populates="transitions")


class CaseNote(db.Model):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    privileged: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship(back_populates="notes")
    revisions: Mapped[list[CaseNoteRevision]] = relationship(
        back_populates="note", order_by="CaseNoteRevision.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class CaseNoteRevision(db.Model):
    """An earlier text of a note: edits never overwrite what was written."""

    __tablename__ = "case_note_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    note_id: Mapped[int] = mapped_column(
        ForeignKey("case_notes.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str] = mapped_column(String(300))
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)

    note: Mapped[CaseNote] = relationship(back_populates="revisions")


class CaseRefCounter(db.Model):
    """The last case number issued per year, so refs are DIST-2026-0001, -0002, ..."""

    __tablename__ = "case_ref_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class Subject(db.Model):
    """Who or what a case is against (an account, an IP prefix ...), normalised and shared."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(500))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("type", "value"),
        Index("ix_subjects_value", "value"),
        one_of("type", SUBJECT_TYPES),
    )


class CaseSubject(db.Model):
    """A subject linked to a case; correlation finds cases through these links."""

    __tablename__ = "case_subjects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    # The finding that first linked them (compliance.evidence's table, named only: cases sits
    # below evidence and never loads a finding).
    first_finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    subject: Mapped[Subject] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("case_id", "subject_id"),
        Index("ix_case_subjects_subject_id", "subject_id"),
    )


class CaseSearchDocument(db.Model):
    """A case's search document (compliance.cases.search keeps it current)."""

    __tablename__ = "case_search"

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    public_text: Mapped[str] = mapped_column(Text, default="")
    privileged_text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseMerge(db.Model):
    """One merge: which case was folded into which, by whom and why."""

    __tablename__ = "case_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys: either case may be deleted later; the record of the merge stays.
    source_id: Mapped[int]
    source_ref: Mapped[str] = mapped_column(String(40), index=True)
    target_id: Mapped[int] = mapped_column(index=True)
    target_ref: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(Text)
    merged_by: Mapped[str] = mapped_column(String(300))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
