"""CHECK constraints: enumerations (states, severities, statuses, kinds) and invariants.

The models declare the same constraints from their Python tuples (compliance.db.one_of); this
revision spells the values out as they were when it was written, because a migration must mean
the same thing forever. tests/test_migrations.py compares the migrated constraints with the
models': a value added to a tuple without a revision that replaces the constraint fails there.

SQLite cannot add a constraint to a table: batch mode recreates each table (copy, drop,
rename). env.py turns SQLite's foreign keys off around migrations, or dropping the old `cases`
would first delete its rows and cascade into every table that refers to them. Recreating a
table drops its triggers: the append-only triggers of `custody_events` are put back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
SEVERITIES = ("low", "medium", "high", "critical")
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")
REVIEW_KINDS = ("case", "hold", "policy")
REVIEW_SUBJECT_TYPES = ("case", "policy")


def one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


# table -> [(constraint name without the ck_<table>_ prefix, condition)]
CONSTRAINTS: dict[str, list[tuple[str, str]]] = {
    "users": [("role", one_of("role", ("analyst", "counsel", "auditor", "admin")))],
    "role_grants": [
        ("role", one_of("role", ("counsel", "admin"))),
        ("status", one_of("status", ("pending", "confirmed", "cancelled"))),
    ],
    "cases": [
        ("state", one_of("state", STATES)),
        ("severity", one_of("severity", SEVERITIES)),
        (
            "hold_reason",
            "NOT legal_hold OR (legal_hold_reason IS NOT NULL AND trim(legal_hold_reason) <> '')",
        ),
        ("confidence", "confidence >= 0 AND confidence <= 1"),
        ("estimated_queries", "estimated_queries >= 0"),
        ("incident_window", "incident_start <= incident_end"),
    ],
    "case_transitions": [
        ("from_state", one_of("from_state", STATES)),
        ("to_state", one_of("to_state", STATES)),
    ],
    "findings": [
        (
            "kind",
            one_of(
                "kind",
                (
                    "query_fingerprint",
                    "rate_anomaly",
                    "cot_elicitation",
                    "coverage_sweep",
                    "canary_hit",
                    "account_linkage",
                ),
            ),
        ),
        ("severity", one_of("severity", SEVERITIES)),
        ("confidence", "confidence >= 0 AND confidence <= 1"),
        ("observed_window", "observed_from <= observed_to"),
        ("sample_prompt_count", "sample_prompt_count >= 0"),
    ],
    "evidence_items": [
        ("role", one_of("role", ("finding_record", "attachment", "upload"))),
        ("size_bytes", "size_bytes >= 0"),
    ],
    "custody_events": [
        (
            "action",
            one_of(
                "action",
                (
                    "collected",
                    "ingested",
                    "viewed",
                    "downloaded",
                    "exported",
                    "verified",
                    "superseded",
                    "transferred",
                ),
            ),
        )
    ],
    "subjects": [
        (
            "type",
            one_of(
                "type",
                (
                    "account",
                    "api_key",
                    "org",
                    "ip_prefix",
                    "payment_fingerprint",
                    "email_domain",
                ),
            ),
        )
    ],
    "case_duplicate_flags": [("status", one_of("status", ("open", "merged", "distinct")))],
    "review_schedules": [
        ("kind", one_of("kind", REVIEW_KINDS)),
        ("subject_type", one_of("subject_type", REVIEW_SUBJECT_TYPES)),
        ("status", one_of("status", ("scheduled", "due", "overdue", "escalated", "done"))),
    ],
    "reviews": [
        ("kind", one_of("kind", REVIEW_KINDS)),
        ("subject_type", one_of("subject_type", REVIEW_SUBJECT_TYPES)),
        (
            "outcome",
            one_of("outcome", ("continue", "escalate", "recommend_close", "recommend_dismiss")),
        ),
        ("case_state", one_of("case_state", STATES)),
    ],
    "notifications": [
        ("kind", one_of("kind", ("review_due", "review_overdue", "review_escalated"))),
    ],
    "outbox_emails": [
        ("status", one_of("status", ("queued", "sent", "failed"))),
        ("attempts", "attempts >= 0"),
    ],
    "job_runs": [("status", one_of("status", ("running", "ok", "failed", "interrupted")))],
    "packets": [
        ("packet_type", one_of("packet_type", ("takedown", "referral", "memo"))),
        ("status", one_of("status", ("queued", "rendering", "stored", "failed"))),
        (
            "sent_channel",
            one_of("sent_channel", ("email", "web_form", "portal", "post", "courier", "other")),
        ),
        ("bates_range", "bates_first <= bates_last"),
        ("size_bytes", "size_bytes >= 0"),
    ],
    "bates_gaps": [("range", "first_number <= last_number")],
    "intel_exports": [("tlp", one_of("tlp", TLP_LEVELS)), ("size_bytes", "size_bytes >= 0")],
    "intel_imports": [("tlp", one_of("tlp", TLP_LEVELS)), ("size_bytes", "size_bytes >= 0")],
    "intel_indicators": [("match_kind", one_of("match_kind", ("hmac", "ip_prefix", "domain")))],
    "taxii_collections": [
        ("max_tlp", one_of("max_tlp", ("clear", "green", "amber", "amber+strict")))
    ],
}

# Tables with SQLite triggers that batch mode's table copy would lose (see 0001).
APPEND_ONLY_TABLES = {"custody_events"}


def upgrade() -> None:
    for table, checks in CONSTRAINTS.items():
        with _triggers_kept(table), op.batch_alter_table(table) as batch_op:
            for name, condition in checks:
                batch_op.create_check_constraint(op.f(f"ck_{table}_{name}"), condition)


def downgrade() -> None:
    for table, checks in reversed(CONSTRAINTS.items()):
        with _triggers_kept(table), op.batch_alter_table(table) as batch_op:
            for name, _condition in reversed(checks):
                batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")


@contextmanager
def _triggers_kept(table: str) -> Iterator[None]:
    """On SQLite, drop a table's append-only triggers before batch mode copies the table and
    create them on the new one (PostgreSQL alters the table in place: nothing to do)."""
    active = table in APPEND_ONLY_TABLES and op.get_bind().dialect.name == "sqlite"
    if active:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    yield
    if active:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            )
