"""Initial schema: every table; triggers make the audit log append-only, evidence blobs write-once.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import compliance.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose rows may never change or disappear once written.
APPEND_ONLY_TABLES = (
    "audit_events",
    "audit_checkpoints",
    "policy_versions",
    "policy_clauses",
    "custody_events",
)


def upgrade() -> None:
    # AUTOGEN-BEGIN upgrade
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_seq"), ["seq"], unique=False)

    op.create_table(
        "bates_counters",
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_bates_counters")),
    )
    op.create_table(
        "case_merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("source_ref", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("target_ref", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("merged_by", sa.String(length=300), nullable=False),
        sa.Column("merged_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_merges")),
    )
    with op.batch_alter_table("case_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_merges_source_ref"), ["source_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_merges_target_id"), ["target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_merges_target_ref"), ["target_ref"], unique=False)

    op.create_table(
        "case_ref_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_ref_counters")),
    )
    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column(
            "written_at",
            compliance.db.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_evidence_blobs")),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_runs_job_id_started_at", ["job_id", "started_at"], unique=False
        )

    op.create_table(
        "policy_documents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("short_title", sa.String(length=60), nullable=False),
        sa.Column("owner", sa.String(length=254), nullable=False),
        sa.Column("next_review_on", sa.Date(), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_documents")),
        sa.UniqueConstraint("key", name=op.f("uq_policy_documents_key")),
    )
    with op.batch_alter_table("policy_documents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_policy_documents_next_review_on", ["next_review_on"], unique=False
        )

    op.create_table(
        "sign_in_failure_windows",
        sa.Column("account", sa.String(length=300), nullable=False),
        sa.Column("window_start", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("reported", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account", "window_start", name=op.f("pk_sign_in_failure_windows")),
    )
    op.create_table(
        "sign_in_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retry_after", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttles")),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("first_seen_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("type", "value", name=op.f("uq_subjects_type_value")),
    )
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.create_index("ix_subjects_value", ["value"], unique=False)

    op.create_table(
        "taxii_collections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("taxii_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("community", sa.String(length=300), nullable=False),
        sa.Column("max_tlp", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_collections")),
        sa.UniqueConstraint("taxii_id", name=op.f("uq_taxii_collections_taxii_id")),
    )
    op.create_table(
        "taxii_feeds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("partner", sa.String(length=300), nullable=False),
        sa.Column("api_root_url", sa.String(length=500), nullable=False),
        sa.Column("collection", sa.String(length=100), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.String(length=40), nullable=True),
        sa.Column("last_polled_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_feeds")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("invite_token_hash", sa.String(length=64), nullable=True),
        sa.Column("invite_expires_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column(
            "recovery_code_hashes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("invite_token_hash", name=op.f("uq_users_invite_token_hash")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column(
            "created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_api_tokens_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("suspected_actor", sa.String(length=300), nullable=True),
        sa.Column("jurisdiction", sa.String(length=200), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("incident_start", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("incident_end", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("estimated_queries", sa.BigInteger(), nullable=True),
        sa.Column(
            "targeted_domains",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "chosen_actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("legal_hold_reason", sa.Text(), nullable=True),
        sa.Column("next_review_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_cases_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("ref", name=op.f("uq_cases_ref")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_cases_next_review_at", ["next_review_at"], unique=False)
        batch_op.create_index("ix_cases_owner_id_state", ["owner_id", "state"], unique=False)
        batch_op.create_index(
            "ix_cases_severity_updated_at", ["severity", "updated_at", "id"], unique=False
        )
        batch_op.create_index("ix_cases_state_created_at", ["state", "created_at"], unique=False)
        batch_op.create_index(
            "ix_cases_state_updated_at", ["state", "updated_at", "id"], unique=False
        )
        batch_op.create_index("ix_cases_updated_at", ["updated_at", "id"], unique=False)

    op.create_table(
        "intel_imports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("tlp_assumed", sa.Boolean(), nullable=False),
        sa.Column("bundle_id", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("indicator_count", sa.Integer(), nullable=False),
        sa.Column("matched_through_subject_id", sa.BigInteger(), nullable=False),
        sa.Column("last_matched_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_seen", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_from", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("feed_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("imported_by", sa.String(length=300), nullable=False),
        sa.Column("imported_by_name", sa.String(length=200), nullable=False),
        sa.Column("imported_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["taxii_feeds.id"], name=op.f("fk_intel_imports_feed_id_taxii_feeds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_imports")),
        sa.UniqueConstraint("sha256", name=op.f("uq_intel_imports_sha256")),
    )
    with op.batch_alter_table("intel_imports", schema=None) as batch_op:
        batch_op.create_index("ix_intel_imports_imported_at", ["imported_at"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "recipient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("due_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("case_ref", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["users.id"],
            name=op.f("fk_notifications_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "recipient_id",
            "subject_type",
            "subject_id",
            "due_at",
            "kind",
            name=op.f("uq_notifications_recipient_id_subject_type_subject_id_due_at_kind"),
        ),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_recipient_id_created_at", ["recipient_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_notifications_recipient_id_read_at", ["recipient_id", "read_at"], unique=False
        )

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "document_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("declared_effective_to", sa.Date(), nullable=True),
        sa.Column("source_path", sa.String(length=500), nullable=False),
        sa.Column("full_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("published_by", sa.String(length=300), nullable=False),
        sa.Column("published_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["policy_documents.id"],
            name=op.f("fk_policy_versions_document_id_policy_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint(
            "document_id", "version", name=op.f("uq_policy_versions_document_id_version")
        ),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_policy_versions_document_id_effective_from",
            ["document_id", "effective_from"],
            unique=False,
        )

    op.create_table(
        "role_grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column(
            "requested_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("requested_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.Column("decided_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_role_grants_requested_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_role_grants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grants")),
    )
    with op.batch_alter_table("role_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_grants_user_id"), ["user_id"], unique=False)

    op.create_table(
        "signatory_profiles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("postal_address", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("bar_admission", sa.String(length=300), nullable=False),
        sa.Column("records_custodian", sa.Boolean(), nullable=False),
        sa.Column("custodian_qualification", sa.Text(), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_signatory_profiles_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatory_profiles")),
        sa.UniqueConstraint("user_id", name=op.f("uq_signatory_profiles_user_id")),
    )
    op.create_table(
        "taxii_partner_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("partner", sa.String(length=300), nullable=False),
        sa.Column(
            "collection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["taxii_collections.id"],
            name=op.f("fk_taxii_partner_tokens_collection_id_taxii_collections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_partner_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_taxii_partner_tokens_token_hash")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_user_sessions_user_id_revoked_at", ["user_id", "revoked_at"], unique=False
        )

    op.create_table(
        "case_notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("privileged", sa.Boolean(), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_case_notes_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_notes_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_search",
        sa.Column(
            "case_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("public_text", sa.Text(), nullable=False),
        sa.Column("privileged_text", sa.Text(), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_search_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_search")),
    )
    op.create_table(
        "case_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column(
            "actor_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("occurred_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "covers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("covers_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_case_transitions_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_transitions_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transitions")),
    )
    with op.batch_alter_table("case_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_transitions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_case_transitions_to_state_case_id", ["to_state", "case_id"], unique=False
        )

    op.create_table(
        "findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("detector_name", sa.String(length=100), nullable=False),
        sa.Column("detector_version", sa.String(length=50), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("observed_from", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("observed_to", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "subjects",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sample_prompt_count", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_by", sa.String(length=300), nullable=False),
        sa.Column("ingested_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_findings_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "detector_name", "external_id", name=op.f("uq_findings_detector_name_external_id")
        ),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_findings_case_id_observed_to", ["case_id", "observed_to"], unique=False
        )
        batch_op.create_index("ix_findings_external_id", ["external_id"], unique=False)

    op.create_table(
        "intel_exports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recipient", sa.String(length=300), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("bundle_id", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "shared_subjects",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "shared_findings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_by_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "collection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("published_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_intel_exports_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["taxii_collections.id"],
            name=op.f("fk_intel_exports_collection_id_taxii_collections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_exports")),
    )
    with op.batch_alter_table("intel_exports", schema=None) as batch_op:
        batch_op.create_index("ix_intel_exports_case_id_id", ["case_id", "id"], unique=False)
        batch_op.create_index(
            "ix_intel_exports_collection_id_published_at",
            ["collection_id", "published_at"],
            unique=False,
        )

    op.create_table(
        "intel_indicators",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("stix_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("match_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("valid_from", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["intel_imports.id"],
            name=op.f("fk_intel_indicators_import_id_intel_imports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_indicators")),
    )
    with op.batch_alter_table("intel_indicators", schema=None) as batch_op:
        batch_op.create_index("ix_intel_indicators_import_id", ["import_id"], unique=False)
        batch_op.create_index(
            "ix_intel_indicators_match_kind_value", ["match_kind", "value"], unique=False
        )

    op.create_table(
        "outbox_emails",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "notification_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_outbox_emails_notification_id_notifications"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_emails")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_outbox_emails_notification_id")),
    )
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_emails_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "packets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("packet_type", sa.String(length=20), nullable=False),
        sa.Column("draft", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column(
            "request_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "preview_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("bates_prefix", sa.String(length=20), nullable=True),
        sa.Column("bates_first", sa.BigInteger(), nullable=True),
        sa.Column("bates_last", sa.BigInteger(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("signer", sa.String(length=300), nullable=True),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column("requested_by_name", sa.String(length=200), nullable=False),
        sa.Column("requested_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("built_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_to", sa.String(length=300), nullable=True),
        sa.Column("sent_channel", sa.String(length=20), nullable=True),
        sa.Column("sent_on", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_by", sa.String(length=300), nullable=True),
        sa.Column("sent_by_name", sa.String(length=200), nullable=True),
        sa.Column("sent_recorded_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_packets_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["preview_id"], ["packets.id"], name=op.f("fk_packets_preview_id_packets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packets")),
    )
    with op.batch_alter_table("packets", schema=None) as batch_op:
        batch_op.create_index("ix_packets_case_id_id", ["case_id", "id"], unique=False)
        batch_op.create_index("ix_packets_preview_id", ["preview_id"], unique=False)
        batch_op.create_index("ix_packets_sha256", ["sha256"], unique=False)
        batch_op.create_index(
            "ix_packets_status_requested_at", ["status", "requested_at"], unique=False
        )

    op.create_table(
        "policy_clauses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("heading", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["policy_versions.id"],
            name=op.f("fk_policy_clauses_version_id_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_clauses")),
        sa.UniqueConstraint(
            "version_id", "number", name=op.f("uq_policy_clauses_version_id_number")
        ),
    )
    op.create_table(
        "review_schedules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("subject_label", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("due_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_changed_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_review_schedules_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_schedules")),
        sa.UniqueConstraint(
            "kind",
            "subject_type",
            "subject_id",
            name=op.f("uq_review_schedules_kind_subject_type_subject_id"),
        ),
    )
    with op.batch_alter_table("review_schedules", schema=None) as batch_op:
        batch_op.create_index("ix_review_schedules_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_review_schedules_kind_due_at", ["kind", "due_at"], unique=False)
        batch_op.create_index(
            "ix_review_schedules_status_due_at", ["status", "due_at"], unique=False
        )

    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("case_state", sa.String(length=20), nullable=True),
        sa.Column(
            "reviewer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reviewer", sa.String(length=300), nullable=False),
        sa.Column("reviewer_name", sa.String(length=200), nullable=False),
        sa.Column("reviewed_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("was_due_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_review_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("form_token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_reviews_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_reviews_reviewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("form_token", name=op.f("uq_reviews_form_token")),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reviews_case_id_reviewed_at", ["case_id", "reviewed_at"], unique=False
        )
        batch_op.create_index(
            "ix_reviews_subject", ["subject_type", "subject_id", "reviewed_at"], unique=False
        )

    op.create_table(
        "bates_gaps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("packet_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["packet_id"], ["packets.id"], name=op.f("fk_bates_gaps_packet_id_packets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bates_gaps")),
    )
    with op.batch_alter_table("bates_gaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bates_gaps_packet_id"), ["packet_id"], unique=False)

    op.create_table(
        "case_duplicate_flags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=False),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "shared_subjects",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.String(length=300), nullable=True),
        sa.Column("resolved_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name=op.f("fk_case_duplicate_flags_finding_id_findings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_duplicate_flags")),
        sa.UniqueConstraint(
            "case_id",
            "duplicate_of_id",
            name=op.f("uq_case_duplicate_flags_case_id_duplicate_of_id"),
        ),
    )
    with op.batch_alter_table("case_duplicate_flags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_duplicate_flags_duplicate_of_id", ["duplicate_of_id"], unique=False
        )
        batch_op.create_index("ix_case_duplicate_flags_status", ["status"], unique=False)

    op.create_table(
        "case_note_revisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("note_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("edited_by", sa.String(length=300), nullable=False),
        sa.Column("edited_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["case_notes.id"],
            name=op.f("fk_case_note_revisions_note_id_case_notes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_note_revisions")),
    )
    with op.batch_alter_table("case_note_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_note_revisions_note_id"), ["note_id"], unique=False
        )

    op.create_table(
        "case_subjects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "first_finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("linked_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_subjects_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["first_finding_id"],
            ["findings.id"],
            name=op.f("fk_case_subjects_first_finding_id_findings"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_case_subjects_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_subjects")),
        sa.UniqueConstraint(
            "case_id", "subject_id", name=op.f("uq_case_subjects_case_id_subject_id")
        ),
    )
    with op.batch_alter_table("case_subjects", schema=None) as batch_op:
        batch_op.create_index("ix_case_subjects_subject_id", ["subject_id"], unique=False)

    op.create_table(
        "evidence_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(length=150), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("hash_method", sa.String(length=100), nullable=False),
        sa.Column("collected_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column(
            "supersedes_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("supersede_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_evidence_items_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_evidence_items_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["evidence_items.id"],
            name=op.f("fk_evidence_items_supersedes_id_evidence_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_evidence_items_supersedes_id")),
    )
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_items_case_id_id", ["case_id", "id"], unique=False)
        batch_op.create_index("ix_evidence_items_finding_id", ["finding_id"], unique=False)
        batch_op.create_index("ix_evidence_items_sha256", ["sha256"], unique=False)

    op.create_table(
        "intel_matches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "import_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "indicator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("matched_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_intel_matches_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_intel_matches_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["intel_imports.id"],
            name=op.f("fk_intel_matches_import_id_intel_imports"),
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["intel_indicators.id"],
            name=op.f("fk_intel_matches_indicator_id_intel_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_intel_matches_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_matches")),
        sa.UniqueConstraint(
            "indicator_id",
            "subject_id",
            "case_id",
            name=op.f("uq_intel_matches_indicator_id_subject_id_case_id"),
        ),
    )
    with op.batch_alter_table("intel_matches", schema=None) as batch_op:
        batch_op.create_index("ix_intel_matches_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_intel_matches_finding_id", ["finding_id"], unique=False)
        batch_op.create_index("ix_intel_matches_import_id", ["import_id"], unique=False)

    op.create_table(
        "clause_citations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "clause_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "evidence_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("in_force", sa.Boolean(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("cited_by", sa.String(length=300), nullable=False),
        sa.Column("cited_by_name", sa.String(length=200), nullable=False),
        sa.Column(
            "cited_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("cited_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", compliance.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=300), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_clause_citations_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cited_by_user_id"],
            ["users.id"],
            name=op.f("fk_clause_citations_cited_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["clause_id"],
            ["policy_clauses.id"],
            name=op.f("fk_clause_citations_clause_id_policy_clauses"),
        ),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_clause_citations_evidence_item_id_evidence_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clause_citations")),
    )
    with op.batch_alter_table("clause_citations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_clause_citations_case_id_removed_at", ["case_id", "removed_at"], unique=False
        )
        batch_op.create_index("ix_clause_citations_clause_id", ["clause_id"], unique=False)

    op.create_table(
        "custody_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=30), nullable=True),
        sa.Column("occurred_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_custody_events_item_id_evidence_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_events")),
    )
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.create_index("ix_custody_events_item_id_id", ["item_id", "id"], unique=False)

    op.create_table(
        "custody_repeats",
        sa.Column(
            "custody_event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_occurred_at", compliance.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["custody_event_id"],
            ["custody_events.id"],
            name=op.f("fk_custody_repeats_custody_event_id_custody_events"),
        ),
        sa.PrimaryKeyConstraint("custody_event_id", name=op.f("pk_custody_repeats")),
    )
    # AUTOGEN-END upgrade
    create_audit_events()
    for table in APPEND_ONLY_TABLES:
        create_append_only_triggers(table)
    create_search_index()
    create_blob_write_once_triggers()


def downgrade() -> None:
    drop_blob_write_once_triggers()
    drop_search_index()
    for table in APPEND_ONLY_TABLES:
        drop_append_only_triggers(table)
    drop_audit_events()
    # AUTOGEN-BEGIN downgrade
    op.drop_table("custody_repeats")
    with op.batch_alter_table("custody_events", schema=None) as batch_op:
        batch_op.drop_index("ix_custody_events_item_id_id")

    op.drop_table("custody_events")
    with op.batch_alter_table("clause_citations", schema=None) as batch_op:
        batch_op.drop_index("ix_clause_citations_clause_id")
        batch_op.drop_index("ix_clause_citations_case_id_removed_at")

    op.drop_table("clause_citations")
    with op.batch_alter_table("intel_matches", schema=None) as batch_op:
        batch_op.drop_index("ix_intel_matches_import_id")
        batch_op.drop_index("ix_intel_matches_finding_id")
        batch_op.drop_index("ix_intel_matches_case_id")

    op.drop_table("intel_matches")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_items_sha256")
        batch_op.drop_index("ix_evidence_items_finding_id")
        batch_op.drop_index("ix_evidence_items_case_id_id")

    op.drop_table("evidence_items")
    with op.batch_alter_table("case_subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_case_subjects_subject_id")

    op.drop_table("case_subjects")
    with op.batch_alter_table("case_note_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_note_revisions_note_id"))

    op.drop_table("case_note_revisions")
    with op.batch_alter_table("case_duplicate_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_case_duplicate_flags_status")
        batch_op.drop_index("ix_case_duplicate_flags_duplicate_of_id")

    op.drop_table("case_duplicate_flags")
    with op.batch_alter_table("bates_gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bates_gaps_packet_id"))

    op.drop_table("bates_gaps")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_subject")
        batch_op.drop_index("ix_reviews_case_id_reviewed_at")

    op.drop_table("reviews")
    with op.batch_alter_table("review_schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_review_schedules_status_due_at")
        batch_op.drop_index("ix_review_schedules_kind_due_at")
        batch_op.drop_index("ix_review_schedules_case_id")

    op.drop_table("review_schedules")
    op.drop_table("policy_clauses")
    with op.batch_alter_table("packets", schema=None) as batch_op:
        batch_op.drop_index("ix_packets_status_requested_at")
        batch_op.drop_index("ix_packets_sha256")
        batch_op.drop_index("ix_packets_preview_id")
        batch_op.drop_index("ix_packets_case_id_id")

    op.drop_table("packets")
    with op.batch_alter_table("outbox_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_emails_status_next_attempt_at")

    op.drop_table("outbox_emails")
    with op.batch_alter_table("intel_indicators", schema=None) as batch_op:
        batch_op.drop_index("ix_intel_indicators_match_kind_value")
        batch_op.drop_index("ix_intel_indicators_import_id")

    op.drop_table("intel_indicators")
    with op.batch_alter_table("intel_exports", schema=None) as batch_op:
        batch_op.drop_index("ix_intel_exports_collection_id_published_at")
        batch_op.drop_index("ix_intel_exports_case_id_id")

    op.drop_table("intel_exports")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_external_id")
        batch_op.drop_index("ix_findings_case_id_observed_to")

    op.drop_table("findings")
    with op.batch_alter_table("case_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_case_transitions_to_state_case_id")
        batch_op.drop_index(batch_op.f("ix_case_transitions_case_id"))

    op.drop_table("case_transitions")
    op.drop_table("case_search")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_notes_case_id"))

    op.drop_table("case_notes")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_sessions_user_id_revoked_at")

    op.drop_table("user_sessions")
    op.drop_table("taxii_partner_tokens")
    op.drop_table("signatory_profiles")
    with op.batch_alter_table("role_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_grants_user_id"))

    op.drop_table("role_grants")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_versions_document_id_effective_from")

    op.drop_table("policy_versions")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_recipient_id_read_at")
        batch_op.drop_index("ix_notifications_recipient_id_created_at")

    op.drop_table("notifications")
    with op.batch_alter_table("intel_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_intel_imports_imported_at")

    op.drop_table("intel_imports")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_updated_at")
        batch_op.drop_index("ix_cases_state_updated_at")
        batch_op.drop_index("ix_cases_state_created_at")
        batch_op.drop_index("ix_cases_severity_updated_at")
        batch_op.drop_index("ix_cases_owner_id_state")
        batch_op.drop_index("ix_cases_next_review_at")
        batch_op.drop_index("ix_cases_created_at")

    op.drop_table("cases")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("taxii_feeds")
    op.drop_table("taxii_collections")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_subjects_value")

    op.drop_table("subjects")
    op.drop_table("sign_in_throttles")
    op.drop_table("sign_in_failure_windows")
    with op.batch_alter_table("policy_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_documents_next_review_on")

    op.drop_table("policy_documents")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_job_id_started_at")

    op.drop_table("job_runs")
    op.drop_table("evidence_blobs")
    op.drop_table("case_ref_counters")
    with op.batch_alter_table("case_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_merges_target_ref"))
        batch_op.drop_index(batch_op.f("ix_case_merges_target_id"))
        batch_op.drop_index(batch_op.f("ix_case_merges_source_ref"))

    op.drop_table("case_merges")
    op.drop_table("bates_counters")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_seq"))

    op.drop_table("audit_checkpoints")
    # AUTOGEN-END downgrade


# PostgreSQL refuses text -> timestamptz in a generated column (the cast is only "stable": it
# reads the session's time zone). The payload's times are ISO 8601 with "Z", which parse the
# same under every setting, so this wrapper is truly immutable.
AUDIT_PAYLOAD_TIME = """
CREATE OR REPLACE FUNCTION audit_payload_time(payload text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (payload::json ->> 'occurred_at')::timestamptz $$
"""


def create_audit_events() -> None:
    """The audit log: seq, the hashed canonical JSON (payload) and its hash.

    Every other column is an index generated from the payload by the database, so it cannot
    say anything the hashed record does not. Written by hand: the expressions differ per
    database (compliance.audit.models.PayloadField writes the same ones).
    """
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(AUDIT_PAYLOAD_TIME)

    def field(name: str, type_: sa.types.TypeEngine, kind: str = "text", **kw: bool) -> sa.Column:
        if postgres:
            value = f"((payload)::json ->> '{name}'::text)"
            if kind == "integer":
                value = f"({value})::bigint"
            elif kind == "time":
                value = "audit_payload_time(payload)"
        else:
            value = f"json_extract(payload, '$.{name}')"
            if kind == "time":
                value = f"replace(substr({value}, 1, 26), 'T', ' ')"
        return sa.Column(name, type_, sa.Computed(sa.text(value), persisted=True), **kw)

    op.create_table(
        "audit_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        field("occurred_at", compliance.db.UTCDateTime(timezone=True), "time", nullable=False),
        field("actor", sa.String(length=300), nullable=False),
        field("action", sa.String(length=100), nullable=False),
        field("object_type", sa.String(length=50), nullable=False),
        field("object_id", sa.String(length=100), nullable=True),
        field("case_id", sa.Integer(), "integer", nullable=True),
        field("case_ref", sa.String(length=40), nullable=True),
        field("request_id", sa.String(length=64), nullable=True),
        field("prev_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    for name, columns in AUDIT_EVENT_INDEXES.items():
        op.create_index(name, "audit_events", columns)


AUDIT_EVENT_INDEXES = {
    "ix_audit_events_action_seq": ["action", "seq"],
    "ix_audit_events_actor_seq": ["actor", "seq"],
    "ix_audit_events_case_id_seq": ["case_id", "seq"],
    "ix_audit_events_case_ref_seq": ["case_ref", "seq"],
    "ix_audit_events_object_seq": ["object_type", "object_id", "seq"],
    "ix_audit_events_occurred_at": ["occurred_at"],
}


def drop_audit_events() -> None:
    op.drop_table("audit_events")  # its indexes go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_payload_time(text)")


def create_append_only_triggers(table: str) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) at the database level."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            )


def drop_append_only_triggers(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


# compliance.evidence.store.REMOVAL_FLAG: set (SET LOCAL) only by orphan cleanup.
BLOB_REMOVAL_FLAG = "compliance.evidence_blob_removal"


def create_blob_write_once_triggers() -> None:
    """evidence_blobs is write-once: no UPDATE or TRUNCATE; DELETE only for orphan cleanup."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION evidence_blobs_write_once() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE'
                   AND current_setting('{BLOB_REMOVAL_FLAG}', true) = 'orphans' THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'evidence_blobs is write-once: % refused', TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER evidence_blobs_no_change BEFORE UPDATE OR DELETE ON evidence_blobs "
            "FOR EACH ROW EXECUTE FUNCTION evidence_blobs_write_once()"
        )
        op.execute(
            "CREATE TRIGGER evidence_blobs_no_truncate BEFORE TRUNCATE ON evidence_blobs "
            "FOR EACH STATEMENT EXECUTE FUNCTION evidence_blobs_write_once()"
        )
    else:  # the table is unused on SQLite (the store needs PostgreSQL); it still refuses
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER evidence_blobs_no_{verb.lower()} BEFORE {verb} ON "
                f"evidence_blobs BEGIN SELECT RAISE(ABORT, 'evidence_blobs is write-once: "
                f"{verb} refused'); END"
            )


def drop_blob_write_once_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS evidence_blobs_no_change ON evidence_blobs")
        op.execute("DROP TRIGGER IF EXISTS evidence_blobs_no_truncate ON evidence_blobs")
        op.execute("DROP FUNCTION IF EXISTS evidence_blobs_write_once()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS evidence_blobs_no_{verb}")


def create_search_index() -> None:
    """The full-text index over case_search: FTS5 on SQLite, GIN on PostgreSQL."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_case_search_public_tsv ON case_search "
            "USING gin (to_tsvector('simple', public_text))"
        )
        op.execute(
            "CREATE INDEX ix_case_search_all_tsv ON case_search "
            "USING gin (to_tsvector('simple', public_text || ' ' || privileged_text))"
        )
    else:
        op.execute("CREATE VIRTUAL TABLE case_search_fts USING fts5(public_text, privileged_text)")


def drop_search_index() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_case_search_public_tsv")
        op.execute("DROP INDEX IF EXISTS ix_case_search_all_tsv")
    else:
        op.execute("DROP TABLE IF EXISTS case_search_fts")
