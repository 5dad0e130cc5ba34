"""Notices after sending: reminders sent about their deadlines (one per notice, deadline, date
and level) and re-upload flags (material an earlier notice removed, seen again).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import compliance.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Notifications gain the notices' kinds (0002 allowed only the reviews').
REVIEW_KINDS = ("review_due", "review_overdue", "review_escalated")
NOTICE_KINDS = ("notice_reminder", "notice_due", "notice_overdue", "notice_repeat")


def _notification_kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_notifications_kind"), f"kind IN ({', '.join(map(repr, kinds))})"
        )


def upgrade() -> None:
    op.create_table(
        "notice_reminders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("deadline", sa.String(length=30), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("sent_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "recipients",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "deadline IN ('acknowledgment', 'decision', 'restore_earliest', 'restore_latest', 'information_due')",
            name=op.f("ck_notice_reminders_deadline"),
        ),
        sa.CheckConstraint(
            "level IN ('before', 'due', 'overdue')", name=op.f("ck_notice_reminders_level")
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_reminders_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_reminders")),
        sa.UniqueConstraint(
            "notice_id",
            "deadline",
            "due_on",
            "level",
            name=op.f("uq_notice_reminders_notice_id_deadline_due_on_level"),
        ),
    )
    op.create_table(
        "notice_repeat_flags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "seen_case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("where_seen", sa.Text(), nullable=False),
        sa.Column("flagged_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flagged_by", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("closed_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=300), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "source IN ('finding', 'analyst')", name=op.f("ck_notice_repeat_flags_source")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'followed_up', 'dismissed')",
            name=op.f("ck_notice_repeat_flags_status"),
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_notice_repeat_flags_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_repeat_flags_notice_id_notices")
        ),
        sa.ForeignKeyConstraint(
            ["seen_case_id"], ["cases.id"], name=op.f("fk_notice_repeat_flags_seen_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_repeat_flags")),
        sa.UniqueConstraint(
            "notice_id",
            "finding_id",
            "kind",
            "value",
            name=op.f("uq_notice_repeat_flags_notice_id_finding_id_kind_value"),
        ),
    )
    with op.batch_alter_table("notice_repeat_flags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notice_repeat_flags_notice_id_status", ["notice_id", "status"], unique=False
        )
        batch_op.create_index("ix_notice_repeat_flags_seen_case_id", ["seen_case_id"], unique=False)
    _notification_kinds(REVIEW_KINDS + NOTICE_KINDS)


def downgrade() -> None:
    op.execute(f"DELETE FROM notifications WHERE kind IN ({', '.join(map(repr, NOTICE_KINDS))})")
    _notification_kinds(REVIEW_KINDS)
    with op.batch_alter_table("notice_repeat_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_repeat_flags_seen_case_id")
        batch_op.drop_index("ix_notice_repeat_flags_notice_id_status")

    op.drop_table("notice_repeat_flags")
    op.drop_table("notice_reminders")
