"""Notices: the recipients directory, notices sent, their history, targeted identifiers and
agencies' requests for more information (CHECK constraints on every state and kind column).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import compliance.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Evidence items gain the role "correspondence": a notice's proof of sending or a recipient's
# answer (0002 allowed only the roles before notices).
ITEM_ROLES = ("finding_record", "attachment", "upload")
NOTICE_ITEM_ROLES = ("correspondence",)


def _item_roles(roles: tuple[str, ...]) -> None:
    with op.batch_alter_table("evidence_items") as batch_op:
        batch_op.drop_constraint(op.f("ck_evidence_items_role"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_evidence_items_role"), f"role IN ({', '.join(map(repr, roles))})"
        )


def upgrade() -> None:
    _item_roles(ITEM_ROLES + NOTICE_ITEM_ROLES)
    op.create_table(
        "recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("jurisdiction", sa.String(length=2), nullable=False),
        sa.Column("subdivision", sa.String(length=10), nullable=True),
        sa.Column("web_form_url", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("postal_address", sa.Text(), nullable=False),
        sa.Column("agent_name", sa.String(length=300), nullable=False),
        sa.Column("agent_registration", sa.String(length=100), nullable=False),
        sa.Column(
            "accepted_bases",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("in_sharing_community", sa.Boolean(), nullable=False),
        sa.Column("response_days", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('hosting_platform', 'agency', 'partner_lab')", name=op.f("ck_recipients_kind")
        ),
        sa.CheckConstraint(
            "response_days >= 0 AND response_days <= 365", name=op.f("ck_recipients_response_days")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipients")),
        sa.UniqueConstraint("name", name=op.f("uq_recipients_name")),
    )
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.create_index("ix_recipients_kind_name", ["kind", "name"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("packet_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("packet_type", sa.String(length=20), nullable=False),
        sa.Column(
            "recipient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("recipient_name", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("sent_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("packet_sha256", sa.String(length=64), nullable=True),
        sa.Column("our_reference", sa.String(length=100), nullable=False),
        sa.Column("their_reference", sa.String(length=200), nullable=False),
        sa.Column(
            "proof_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("acknowledged_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("counter_notice_received_on", sa.Date(), nullable=True),
        sa.Column("resolved_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("agency_case_number", sa.String(length=100), nullable=False),
        sa.Column("assigned_agent", sa.String(length=200), nullable=False),
        sa.Column("referral_status", sa.String(length=30), nullable=True),
        sa.Column("sent_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'web_form', 'portal', 'post', 'courier', 'other')",
            name=op.f("ck_notices_channel"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('removed', 'disabled', 'refused', 'no_action')",
            name=op.f("ck_notices_outcome"),
        ),
        sa.CheckConstraint(
            "packet_type IN ('takedown', 'referral')", name=op.f("ck_notices_packet_type")
        ),
        sa.CheckConstraint(
            "referral_status IS NULL OR referral_status IN ('submitted', 'assigned', 'information_requested', 'under_investigation', 'declined', 'closed')",
            name=op.f("ck_notices_referral_status"),
        ),
        sa.CheckConstraint(
            "state IN ('sent', 'acknowledged', 'counter_notice_received', 'resolved', 'restored', 'suit_filed', 'withdrawn')",
            name=op.f("ck_notices_state"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_notices_case_id_cases")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_notices_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["packet_id"], ["packets.id"], name=op.f("fk_notices_packet_id_packets")
        ),
        sa.ForeignKeyConstraint(
            ["proof_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_notices_proof_item_id_evidence_items"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"], name=op.f("fk_notices_recipient_id_recipients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index("ix_notices_case_id_id", ["case_id", "id"], unique=False)
        batch_op.create_index("ix_notices_owner_id_state", ["owner_id", "state"], unique=False)
        batch_op.create_index("ix_notices_packet_id", ["packet_id"], unique=False)
        batch_op.create_index(
            "ix_notices_recipient_id_sent_at", ["recipient_id", "sent_at"], unique=False
        )
        batch_op.create_index("ix_notices_state_sent_at", ["state", "sent_at"], unique=False)

    op.create_table(
        "notice_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_state", sa.String(length=30), nullable=True),
        sa.Column("to_state", sa.String(length=30), nullable=True),
        sa.Column("occurred_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "evidence_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "kind IN ('sent', 'acknowledged', 'resolved', 'counter_notice_received', 'restored', 'suit_filed', 'withdrawn', 'response', 'identifiers', 'referral', 'information_requested', 'information_answered')",
            name=op.f("ck_notice_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_notice_events_evidence_item_id_evidence_items"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_events_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_events")),
    )
    with op.batch_alter_table("notice_events", schema=None) as batch_op:
        batch_op.create_index("ix_notice_events_notice_id_id", ["notice_id", "id"], unique=False)

    op.create_table(
        "notice_identifiers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("added_by", sa.String(length=300), nullable=False),
        sa.Column("added_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('url', 'repository', 'file_sha256', 'model_name')",
            name=op.f("ck_notice_identifiers_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_identifiers_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_identifiers")),
        sa.UniqueConstraint(
            "notice_id", "kind", "value", name=op.f("uq_notice_identifiers_notice_id_kind_value")
        ),
    )
    with op.batch_alter_table("notice_identifiers", schema=None) as batch_op:
        batch_op.create_index("ix_notice_identifiers_kind_value", ["kind", "value"], unique=False)

    op.create_table(
        "notice_information_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column(
            "answer_packet_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("answered_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=300), nullable=False),
        sa.Column("recorded_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_packet_id"],
            ["packets.id"],
            name=op.f("fk_notice_information_requests_answer_packet_id_packets"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_information_requests_notice_id_notices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_information_requests")),
    )
    with op.batch_alter_table("notice_information_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notice_information_requests_notice_id", ["notice_id"], unique=False
        )


def downgrade() -> None:
    # Correspondence items stay in the evidence store and the custody log; downgrading past
    # notices with any of them recorded is refused by the constraint rather than losing them.
    with op.batch_alter_table("notice_information_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_information_requests_notice_id")

    op.drop_table("notice_information_requests")
    with op.batch_alter_table("notice_identifiers", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_identifiers_kind_value")

    op.drop_table("notice_identifiers")
    with op.batch_alter_table("notice_events", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_events_notice_id_id")

    op.drop_table("notice_events")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_state_sent_at")
        batch_op.drop_index("ix_notices_recipient_id_sent_at")
        batch_op.drop_index("ix_notices_packet_id")
        batch_op.drop_index("ix_notices_owner_id_state")
        batch_op.drop_index("ix_notices_case_id_id")

    op.drop_table("notices")
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_recipients_kind_name")

    op.drop_table("recipients")
    _item_roles(ITEM_ROLES)
