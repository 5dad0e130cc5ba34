"""The database itself refuses values the Python rules refuse (CHECK constraints).

Rows are written with plain SQL, around the operations and the ORM, as a script, a bug or a
hand-made fix could: each bad value must fail with the constraint named in the error, while the
same row with good values is accepted (so the refusal comes from that constraint alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import CheckConstraint, Engine, create_engine, insert, text
from sqlalchemy.exc import IntegrityError

from compliance import models  # noqa: F401 - registers every table
from compliance.db import Base, configure_engine, utcnow

NOW = utcnow()
SHA = "0" * 64

# A valid row for each table with CHECK constraints (parents: user 1, case 1, item 1, import 1).
GOOD: dict[str, dict[str, Any]] = {
    "users": {"email": "x@lab.example", "name": "X", "role": "analyst", "password_hash": "!"},
    "role_grants": {"user_id": 1, "role": "counsel", "requested_by": "cli:root"},
    "cases": {"ref": "DIST-2026-0099", "title": "T", "created_by": "cli:root"},
    "case_transitions": {
        "case_id": 1,
        "from_state": "reported",
        "to_state": "triage",
        "actor": "cli:root",
        "actor_name": "root",
    },
    "findings": {
        "detector_name": "d",
        "detector_version": "1",
        "external_id": "e-99",
        "kind": "rate_anomaly",
        "severity": "high",
        "confidence": 0.5,
        "observed_from": NOW - timedelta(hours=1),
        "observed_to": NOW,
        "summary": "s",
        "metrics": {},
        "subjects": [],
        "content_sha256": SHA,
        "case_id": 1,
        "ingested_by": "token:d",
    },
    "evidence_items": {
        "case_id": 1,
        "role": "upload",
        "name": "n",
        "media_type": "text/plain",
        "sha256": SHA,
        "size_bytes": 0,
        "source": "s",
        "collected_at": NOW,
        "created_by": "cli:root",
    },
    "custody_events": {"item_id": 1, "action": "viewed", "actor": "cli:root"},
    "subjects": {"type": "account", "value": "acct-99"},
    "case_duplicate_flags": {"case_id": 1, "duplicate_of_id": 2, "status": "open"},
    "review_schedules": {
        "kind": "hold",
        "subject_type": "case",
        "subject_id": 1,
        "subject_label": "DIST-2026-0001",
        "due_at": NOW,
        "status": "due",
    },
    "reviews": {
        "kind": "case",
        "subject_type": "case",
        "subject_id": 1,
        "case_state": "triage",
        "reviewer": "user:x@lab.example",
        "reviewer_name": "X",
        "outcome": "continue",
        "form_token": "t-99",
    },
    "notifications": {
        "recipient_id": 1,
        "kind": "review_due",
        "subject_type": "case",
        "subject_id": 1,
        "due_at": NOW,
        "title": "t",
        "link": "/cases/1",
    },
    "outbox_emails": {"recipient": "x@lab.example", "subject": "s", "body": "b", "attempts": 0},
    "job_runs": {"job_id": "reviews-due", "status": "ok"},
    "packets": {
        "case_id": 1,
        "packet_type": "takedown",
        "status": "stored",
        "template_version": "1",
        "requested_by": "cli:root",
        "requested_by_name": "root",
        "bates_prefix": "LAB",
        "bates_first": 1,
        "bates_last": 1,
        "size_bytes": 10,
        "sent_channel": "email",
    },
    "bates_gaps": {"prefix": "LAB", "first_number": 5, "last_number": 5, "reason": "r"},
    "intel_exports": {
        "case_id": 1,
        "recipient": "r",
        "tlp": "amber",
        "bundle_id": "bundle--1",
        "sha256": SHA,
        "size_bytes": 1,
        "created_by": "cli:root",
        "created_by_name": "root",
    },
    "intel_imports": {
        "source": "Lab B",
        "tlp": "green",
        "bundle_id": "bundle--2",
        "sha256": "1" * 64,
        "size_bytes": 1,
        "imported_by": "cli:root",
        "imported_by_name": "root",
    },
    "intel_indicators": {
        "import_id": 1,
        "stix_id": "indicator--1",
        "match_kind": "hmac",
        "value": "v",
    },
    "taxii_collections": {
        "taxii_id": "c-99",
        "title": "t",
        "community": "c",
        "max_tlp": "amber+strict",
        "created_by": "cli:root",
    },
    "recipients": {
        "name": "Example Host",
        "kind": "hosting_platform",
        "jurisdiction": "US",
        "created_by": "cli:root",
    },
    "notices": {
        "case_id": 1,
        "packet_type": "takedown",
        "recipient_name": "Example Host",
        "channel": "email",
        "sent_at": NOW,
        "our_reference": "N-1",
        "sent_by": "cli:root",
    },
    "notice_events": {"notice_id": 1, "kind": "sent", "occurred_at": NOW, "actor": "cli:root"},
    "notice_identifiers": {
        "notice_id": 1,
        "kind": "url",
        "value": "https://host.example/m",
        "added_by": "cli:root",
    },
    "notice_reminders": {
        "notice_id": 1,
        "deadline": "acknowledgment",
        "due_on": NOW.date(),
        "level": "before",
        "recipients": [],
    },
    "notice_repeat_flags": {
        "notice_id": 1,
        "source": "analyst",
        "kind": "url",
        "value": "https://host.example/m",
        "flagged_by": "cli:root",
        "status": "open",
    },
}

# table -> [(constraint, values that break it)]: every CHECK in the models is listed here.
BAD: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "users": [("ck_users_role", {"role": "operator"})],
    "role_grants": [
        ("ck_role_grants_role", {"role": "analyst"}),
        ("ck_role_grants_status", {"status": "approved"}),
    ],
    "cases": [
        ("ck_cases_state", {"state": "archived"}),
        ("ck_cases_severity", {"severity": "urgent"}),
        ("ck_cases_hold_reason", {"legal_hold": True}),
        ("ck_cases_hold_reason", {"legal_hold": True, "legal_hold_reason": "  "}),
        ("ck_cases_confidence", {"confidence": 1.5}),
        ("ck_cases_confidence", {"confidence": -0.1}),
        ("ck_cases_estimated_queries", {"estimated_queries": -1}),
        (
            "ck_cases_incident_window",
            {"incident_start": NOW, "incident_end": NOW - timedelta(microseconds=1)},
        ),
    ],
    "case_transitions": [
        ("ck_case_transitions_from_state", {"from_state": "nowhere"}),
        ("ck_case_transitions_to_state", {"to_state": "merged"}),
    ],
    "findings": [
        ("ck_findings_kind", {"kind": "hunch"}),
        ("ck_findings_severity", {"severity": "severe"}),
        ("ck_findings_confidence", {"confidence": 2.0}),
        ("ck_findings_observed_window", {"observed_from": NOW + timedelta(seconds=1)}),
        ("ck_findings_sample_prompt_count", {"sample_prompt_count": -3}),
    ],
    "evidence_items": [
        ("ck_evidence_items_role", {"role": "rumour"}),
        ("ck_evidence_items_size_bytes", {"size_bytes": -1}),
    ],
    "custody_events": [("ck_custody_events_action", {"action": "edited"})],
    "subjects": [("ck_subjects_type", {"type": "phone"})],
    "case_duplicate_flags": [("ck_case_duplicate_flags_status", {"status": "ignored"})],
    "review_schedules": [
        ("ck_review_schedules_kind", {"kind": "quarterly"}),
        ("ck_review_schedules_subject_type", {"subject_type": "packet"}),
        ("ck_review_schedules_status", {"status": "late"}),
    ],
    "reviews": [
        ("ck_reviews_kind", {"kind": "quarterly"}),
        ("ck_reviews_subject_type", {"subject_type": "packet"}),
        ("ck_reviews_outcome", {"outcome": "shrug"}),
        ("ck_reviews_case_state", {"case_state": "archived"}),
    ],
    "notifications": [("ck_notifications_kind", {"kind": "hello"})],
    "outbox_emails": [
        ("ck_outbox_emails_status", {"status": "bounced"}),
        ("ck_outbox_emails_attempts", {"attempts": -1}),
    ],
    "job_runs": [("ck_job_runs_status", {"status": "skipped"})],
    "packets": [
        ("ck_packets_packet_type", {"packet_type": "letter"}),
        ("ck_packets_status", {"status": "sent"}),
        ("ck_packets_sent_channel", {"sent_channel": "fax"}),
        ("ck_packets_bates_range", {"bates_first": 9, "bates_last": 8}),
        ("ck_packets_size_bytes", {"size_bytes": -10}),
    ],
    "bates_gaps": [("ck_bates_gaps_range", {"first_number": 6})],
    "intel_exports": [
        ("ck_intel_exports_tlp", {"tlp": "white"}),
        ("ck_intel_exports_size_bytes", {"size_bytes": -1}),
    ],
    "intel_imports": [
        ("ck_intel_imports_tlp", {"tlp": "TLP:GREEN"}),
        ("ck_intel_imports_size_bytes", {"size_bytes": -1}),
    ],
    "intel_indicators": [("ck_intel_indicators_match_kind", {"match_kind": "regex"})],
    "taxii_collections": [("ck_taxii_collections_max_tlp", {"max_tlp": "red"})],
    "recipients": [
        ("ck_recipients_kind", {"kind": "court"}),
        ("ck_recipients_response_days", {"response_days": -1}),
        ("ck_recipients_response_days", {"response_days": 400}),
    ],
    "notices": [
        ("ck_notices_state", {"state": "forgotten"}),
        ("ck_notices_channel", {"channel": "fax"}),
        ("ck_notices_packet_type", {"packet_type": "memo"}),
        ("ck_notices_outcome", {"outcome": "ignored"}),
        ("ck_notices_referral_status", {"referral_status": "lost"}),
    ],
    "notice_events": [("ck_notice_events_kind", {"kind": "chat"})],
    "notice_identifiers": [("ck_notice_identifiers_kind", {"kind": "phone"})],
    "notice_reminders": [
        ("ck_notice_reminders_deadline", {"deadline": "someday"}),
        ("ck_notice_reminders_level", {"level": "shout"}),
    ],
    "notice_repeat_flags": [
        ("ck_notice_repeat_flags_source", {"source": "rumour"}),
        ("ck_notice_repeat_flags_status", {"status": "ignored"}),
    ],
}


def _model_checks() -> set[str]:
    return {
        constraint.name
        for table in Base.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }


def test_every_check_constraint_has_a_refusal_test():
    listed = {name for cases in BAD.values() for name, _values in cases}
    assert listed == _model_checks()
    assert set(GOOD) == set(BAD)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The migrated database with the parents the rows above refer to."""
    engine = create_engine(database_url)
    configure_engine(engine)
    parents = {  # unique values of their own, so the good rows below do not collide with them
        "users": {"email": "parent@lab.example"},
        "cases": {"ref": "DIST-2026-0001"},
        "evidence_items": {},
        "intel_imports": {"sha256": "2" * 64},
        "notices": {},  # the notice the events, identifiers, reminders and flags refer to
    }
    with engine.begin() as conn:
        for table, unique in parents.items():
            row = {**GOOD[table], **unique}
            inserted = conn.execute(insert(Base.metadata.tables[table]).values(**row))
            assert inserted.inserted_primary_key == (1,)  # the id the rows above refer to
    yield engine
    engine.dispose()


def _insert(engine: Engine, table: str, values: dict[str, Any], keep: bool = False) -> None:
    row = {**GOOD[table], **values}
    with engine.connect() as conn:
        conn.execute(insert(Base.metadata.tables[table]).values(**row))
        if keep:
            conn.commit()
        else:
            conn.rollback()


@pytest.mark.parametrize("table", sorted(BAD))
def test_the_database_refuses_a_bad_value(engine: Engine, table: str):
    _insert(engine, table, {})  # the good row passes: what fails below fails for one reason
    for constraint, values in BAD[table]:
        with pytest.raises(IntegrityError) as refused:
            _insert(engine, table, values)
        assert constraint in str(refused.value.orig), (values, refused.value.orig)


def test_updates_are_refused_too(engine: Engine):
    """UPDATE is checked like INSERT: a hold without its reason, a state outside the workflow."""
    refusals = {
        "UPDATE cases SET legal_hold = TRUE WHERE id = 1": "ck_cases_hold_reason",
        "UPDATE cases SET state = 'archived' WHERE id = 1": "ck_cases_state",
        "UPDATE users SET role = 'root' WHERE id = 1": "ck_users_role",
    }
    for sql, constraint in refusals.items():
        with pytest.raises(IntegrityError) as refused, engine.begin() as conn:
            conn.execute(text(sql))
        assert constraint in str(refused.value.orig)
    with engine.begin() as conn:  # with a reason the same hold is fine, and releasing it too
        conn.execute(text("UPDATE cases SET legal_hold = TRUE, legal_hold_reason = 'Suit' "))
        conn.execute(text("UPDATE cases SET legal_hold = FALSE, legal_hold_reason = NULL"))
        assert conn.execute(text("SELECT state, legal_hold FROM cases")).one() == ("reported", 0)
