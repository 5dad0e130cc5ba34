"""Every operation that changes data writes an audit event.

The operations are found by introspection (every public function in compliance/*/operations.py
and compliance/cases/retention.py), so an operation added later shows up here on its own and
fails until its author adds an entry to MUTATIONS (or, if it only reads, to READ_ONLY).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from compliance import PROJECT_ROOT
from compliance.audit.models import AuditEvent
from compliance.auth.actor import Actor
from compliance.cases.workflow import TransitionRequest
from compliance.db import utcnow
from compliance.extensions import db
from tests.conftest import PASSWORD

MODULES = sorted(
    ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    for path in (PROJECT_ROOT / "compliance").glob("*/operations.py")
) + ["compliance.cases.retention"]

# Helpers that read (or only touch bookkeeping such as a token's last-used time).
READ_ONLY = {
    "compliance.auth.operations": {"find_user", "token_from_header"},
    "compliance.cases.operations": {"get_case", "next_case_ref", "visible_notes"},
    "compliance.cases.retention": {"closed_at", "deletable_from", "history_refs"},
    "compliance.evidence.operations": {
        "canonical_json", "case_subjects", "duplicate_flags", "evidence_count", "find_orphans",
        "get_flag", "get_item", "may_ingest", "open_flags_for", "superseded_ids",
    },
    "compliance.packets.operations": {
        "attachments_for", "aware", "counter_value", "fingerprint", "gather", "get_packet",
        "packet_bytes", "packets_for_case", "sent_packet_types",
    },
    "compliance.policies.operations": {
        "active_citation_count", "cases_citing", "citations_for_case", "clause_change",
        "clauses_in_force", "date_warnings", "evidence_choices", "find_clause", "get_citation",
        "get_document", "get_version", "incident_window", "inline_diff", "is_in_force",
        "list_documents", "policies_dir", "unified_text_diff", "version_diff",
        "versions_in_force",
    },
    "compliance.reviews.operations": {
        "cadence_days", "cadence_due", "due_pass_candidates", "escalation_candidates",
        "find_schedule", "my_reviews", "open_reviews", "policy_owner_id", "recipients_for",
        "reviews_for_case", "reviews_reaching", "sendable_emails", "status_at", "unread_count",
    },
}  # fmt: skip

# Mutating operations written by other capabilities whose entries are not written yet:
# each is reported as an expected failure until someone adds its MUTATIONS entry.
PENDING: dict[str, set[str]] = {
    "compliance.evidence.operations": {
        "add_evidence_file", "clean_orphans", "download_item", "ingest_findings",
        "record_custody", "record_rejected_batch", "record_view", "resolve_duplicate",
        "verify_evidence",
    },
    "compliance.packets.operations": {
        "build_packet", "download_packet", "mark_failed", "mark_sent", "request_packet",
        "reserve_range",
    },
    "compliance.policies.operations": {
        "cite_clause", "schedule_review", "sync_policies", "withdraw_citation",
    },
    "compliance.reviews.operations": {
        "advance_review", "close_reviews_of_merged_case", "complete_policy_review",
        "complete_review", "mark_read",
        "notify", "record_email_attempt", "schedule_case_review", "sync_case_reviews",
        "sync_hold_reviews", "sync_policy_annual_reviews",
    },
}  # fmt: skip


class World:
    """What an entry needs: actors of each role and a way to make cases."""

    def __init__(self, actor_for: Callable[[str], Actor], make_case: Callable, make_user) -> None:  # noqa: ANN001
        self.actor_for, self.make_case, self.make_user = actor_for, make_case, make_user
        self.counsel = actor_for("counsel")
        self.admin = actor_for("admin")
        self.operator = Actor.cli_operator()


def _auth(name: str) -> Callable[[World], Any]:
    from compliance.auth import operations as ops

    def run(w: World) -> Any:
        user = w.make_user("analyst")
        if name == "create_user":
            return ops.create_user(w.admin, "new.person@lab.example", "analyst", PASSWORD)
        if name == "set_password":
            return ops.set_password(w.admin, user, "another long password")
        if name == "set_role":
            return ops.set_role(w.admin, user, "counsel")
        if name == "set_active":
            return ops.set_active(w.admin, user, False)
        if name == "authenticate":
            return ops.authenticate(user.email, "wrong password!")
        if name == "create_token":
            return ops.create_token(w.admin, "detector", ["ingest"])
        if name == "revoke_token":
            token, _ = ops.create_token(w.admin, "detector", ["ingest"])
            db.session.commit()
            return ops.revoke_token(w.admin, token.id)
        raise AssertionError(name)

    return run


def _cases(name: str) -> Callable[[World], Any]:
    from compliance.cases import operations as ops

    def run(w: World) -> Any:
        if name == "create_case":
            return ops.create_case(w.counsel, title="New sweep")
        if name == "open_case":
            return ops.open_case(w.operator, title="Opened by ingestion")
        case = w.make_case()
        if name == "update_case":
            return ops.update_case(case, w.counsel, {"severity": "critical"})
        if name == "transition_case":
            return ops.transition_case(case, "triage", w.counsel)
        if name == "add_note":
            return ops.add_note(case, w.counsel, "A note")
        if name == "edit_note":
            note = ops.add_note(case, w.counsel, "A note")
            db.session.commit()
            return ops.edit_note(note, w.counsel, "A better note")
        if name == "record_privileged_view":
            note = ops.add_note(case, w.counsel, "Privileged", privileged=True)
            db.session.commit()
            return ops.record_privileged_view(case, w.counsel, [note])
        if name == "place_hold":
            return ops.place_hold(case, w.counsel, "litigation")
        if name == "release_hold":
            ops.place_hold(case, w.counsel, "litigation")
            db.session.commit()
            return ops.release_hold(case, w.counsel, "settled")
        raise AssertionError(name)

    return run


def _retention(name: str) -> Callable[[World], Any]:
    from compliance.cases import operations as ops
    from compliance.cases import retention

    def run(w: World) -> Any:
        case = w.make_case()
        if name == "merge_cases":
            return retention.merge_cases(case, w.make_case(), w.counsel, "same campaign")
        if name == "delete_case":
            ops.transition_case(case, "dismissed", w.counsel, TransitionRequest(reason="benign"))
            db.session.commit()
            later = utcnow() + timedelta(days=10 * 365)
            return retention.delete_case(case, w.admin, now=later)
        raise AssertionError(name)

    return run


MUTATIONS: dict[str, Callable[[str], Callable[[World], Any]]] = {
    **{f"compliance.auth.operations.{n}": _auth for n in (
        "create_user", "set_password", "set_role", "set_active", "authenticate",
        "create_token", "revoke_token",
    )},
    **{f"compliance.cases.operations.{n}": _cases for n in (
        "create_case", "open_case", "update_case", "transition_case", "add_note", "edit_note",
        "record_privileged_view", "place_hold", "release_hold",
    )},
    **{f"compliance.cases.retention.{n}": _retention for n in ("merge_cases", "delete_case")},
}  # fmt: skip


def _operations() -> list[tuple[str, str]]:
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module_name and not name.startswith("_"):
                found.append((module_name, name))
    return found


def _params() -> list[Any]:
    params = []
    for module_name, name in _operations():
        if name in READ_ONLY.get(module_name, set()):
            continue
        marks = []
        if name in PENDING.get(module_name, set()):
            marks = [pytest.mark.xfail(reason="coverage entry not written yet", strict=True)]
        params.append(
            pytest.param(f"{module_name}.{name}", id=f"{module_name}.{name}", marks=marks)
        )
    return params


def test_operations_are_found():
    names = {f"{m}.{n}" for m, n in _operations()}
    assert "compliance.cases.operations.transition_case" in names
    assert "compliance.cases.retention.merge_cases" in names


@pytest.mark.parametrize("operation", _params())
def test_every_mutation_writes_an_audit_event(operation, app, actor_for, make_case, make_user):
    assert operation in MUTATIONS, (
        f"{operation} is a public operation with no audit-coverage entry: if it changes data, "
        "add it to MUTATIONS in tests/audit/test_coverage.py (set up data, call it); if it only "
        "reads, add it to READ_ONLY there"
    )
    world = World(actor_for, make_case, make_user)
    db.session.commit()
    run = MUTATIONS[operation](operation.rsplit(".", 1)[1])
    # The count is taken after the entry's own set-up has committed, just before the call.
    counts: list[int] = []

    def count() -> int:
        return db.session.scalar(select(func.count()).select_from(AuditEvent))

    original_commit = db.session.commit

    def commit() -> None:
        original_commit()
        counts.append(count())

    db.session.commit = commit  # type: ignore[method-assign]
    try:
        counts.append(count())
        run(world)
    finally:
        db.session.commit = original_commit  # type: ignore[method-assign]
    db.session.flush()
    assert count() > counts[-1], f"{operation} changed data without writing an audit event"
