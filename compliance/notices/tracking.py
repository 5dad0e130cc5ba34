"""What the team is told about notices after sending: reminders sent, re-uploads flagged.

`NoticeReminder` is the record that makes reminders idempotent: one row per (notice, deadline,
its date, level), inserted before anyone is told, so two schedulers overlapping in a fail-over
or a job re-run after a crash never remind twice. A deadline that moves (a new date) is a new
deadline and is reminded again.

`RepeatFlag` is the re-upload watch's finding: material matching what an earlier notice had
removed came back (seen in a new finding or entered by an analyst).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from compliance.cases.models import Case
from compliance.db import BigId, one_of, utcnow
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.notices.models import IDENTIFIER_KINDS, Notice

# What a notice waits for, in the order a notice meets them.
DEADLINE_KINDS = {
    "acknowledgment": "Acknowledgment expected",
    "decision": "Decision expected",
    "restore_earliest": "Restoration window opens",
    "restore_latest": "Restoration window closes",
    "information_due": "Agency's information request due",
}
# before: N business days ahead; due: on the day; overdue: escalated to counsel.
REMINDER_LEVELS = ("before", "due", "overdue")
REPEAT_SOURCES = ("finding", "analyst")
REPEAT_STATUSES = {"open": "Open", "followed_up": "Followed up", "dismissed": "Dismissed"}


class NoticeReminder(db.Model):
    """One reminder (or escalation) about one deadline of one notice: sent at most once."""

    __tablename__ = "notice_reminders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    deadline: Mapped[str] = mapped_column(String(30))
    due_on: Mapped[date]
    level: Mapped[str] = mapped_column(String(10))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipients: Mapped[list[str]] = mapped_column(default=list)  # e-mails told

    notice: Mapped[Notice] = relationship()

    __table_args__ = (
        one_of("deadline", DEADLINE_KINDS),
        one_of("level", REMINDER_LEVELS),
        UniqueConstraint("notice_id", "deadline", "due_on", "level"),
    )


class RepeatFlag(db.Model):
    """Material an earlier notice had removed, seen again: the repeat and what was done."""

    __tablename__ = "notice_repeat_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The earlier notice whose material came back, and the case it belongs to.
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    # Where the repeat was seen: the new finding (and the case it went to), or an analyst.
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    seen_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    source: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20))  # the identifier that matched, normalised
    value: Mapped[str] = mapped_column(String(500))
    where_seen: Mapped[str] = mapped_column(Text, default="")  # the analyst's words, or ""
    flagged_at: Mapped[datetime] = mapped_column(default=utcnow)
    flagged_by: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), default="open")
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(300))
    close_note: Mapped[str] = mapped_column(Text, default="")

    notice: Mapped[Notice] = relationship()
    finding: Mapped[Finding | None] = relationship()
    seen_case: Mapped[Case | None] = relationship()

    __table_args__ = (
        one_of("source", REPEAT_SOURCES),
        one_of("status", REPEAT_STATUSES),
        # A finding matches each identifier of a notice once, however often it is re-sent.
        UniqueConstraint("notice_id", "finding_id", "kind", "value"),
        Index("ix_notice_repeat_flags_notice_id_status", "notice_id", "status"),
        Index("ix_notice_repeat_flags_seen_case_id", "seen_case_id"),
    )

    @property
    def status_label(self) -> str:
        return REPEAT_STATUSES.get(self.status, self.status)

    @property
    def kind_label(self) -> str:
        return IDENTIFIER_KINDS.get(self.kind, self.kind)
