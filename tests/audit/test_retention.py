"""Deleting or merging cases never deletes audit history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from compliance.audit.chain import verify_chain
from compliance.audit.models import AuditEvent
from compliance.cases import operations
from compliance.cases.models import Case, CaseNote
from compliance.cases.retention import delete_case, history_refs, merge_cases
from compliance.cases.workflow import TransitionRequest
from compliance.db import utcnow
from compliance.errors import PermissionDenied, WorkflowRefused
from compliance.extensions import db


def _events(ref: str) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.case_ref == ref).order_by(AuditEvent.seq)
        )
    )


@pytest.fixture
def dismissed(make_case, actor_for):
    counsel = actor_for("counsel")
    case = make_case(actor=counsel)
    operations.add_note(case, counsel, "Nothing here after all.")
    operations.transition_case(case, "dismissed", counsel, TransitionRequest(reason="benign"))
    db.session.commit()
    return case


def test_deleting_keeps_the_audit_trail(dismissed, actor_for):
    ref, before = dismissed.ref, _events(dismissed.ref)
    later = utcnow() + timedelta(days=7 * 365 + 1)
    delete_case(dismissed, actor_for("admin"), now=later)
    db.session.commit()
    assert db.session.scalar(select(Case).where(Case.ref == ref)) is None
    assert _events(ref) == [*before, "case.deleted"]
    assert verify_chain().ok


def test_no_deletion_within_retention_or_under_hold_or_open(dismissed, make_case, actor_for):
    admin = actor_for("admin")
    with pytest.raises(WorkflowRefused, match="retention"):
        delete_case(dismissed, admin)
    db.session.rollback()
    operations.place_hold(dismissed, actor_for("counsel"), "litigation expected")
    db.session.commit()
    with pytest.raises(WorkflowRefused, match="legal hold"):
        delete_case(dismissed, admin, now=utcnow() + timedelta(days=4000))
    db.session.rollback()
    with pytest.raises(WorkflowRefused, match="only closed or dismissed"):
        delete_case(make_case(), admin, now=utcnow() + timedelta(days=4000))


@pytest.mark.parametrize("role", ["analyst", "counsel", "auditor"])
def test_only_admins_delete(dismissed, actor_for, role):
    with pytest.raises(PermissionDenied):
        delete_case(dismissed, actor_for(role), now=utcnow() + timedelta(days=4000))


def test_merge_keeps_both_histories(make_case, actor_for, login_as):
    counsel = actor_for("counsel")
    source, target = (
        make_case(actor=counsel, title="Source"),
        make_case(actor=counsel, title="Target"),
    )
    note = operations.add_note(source, counsel, "Shared payment fingerprint.")
    operations.place_hold(source, counsel, "preserve for litigation")
    db.session.commit()
    source_events = _events(source.ref)
    merge_cases(source, target, counsel, "same campaign")
    db.session.commit()
    assert db.session.get(CaseNote, note.id).case_id == target.id
    # The merged-away case's reviews are cleared (as when a case is closed), then the merge.
    assert _events(source.ref) == [*source_events, "review.cleared", "case.merged_into"]
    assert "case.merged" in _events(target.ref)
    assert target.legal_hold  # the hold follows the records it protects
    assert source.state == "closed" and target.ref in source.outcome
    assert history_refs(target.ref) == [target.ref, source.ref]
    assert verify_chain().ok
    _, client = login_as("auditor")
    page = client.get(f"/cases/{target.ref}?tab=audit").data.decode()
    assert "case.merged_into" in page and "Shared" not in page


def test_analysts_cannot_merge(make_case, actor_for):
    analyst = actor_for("analyst")
    with pytest.raises(PermissionDenied):
        merge_cases(make_case(), make_case(), analyst, "same")


def test_cli_merge_and_delete(app, make_case, operator):
    from compliance.cli import main

    runner = app.test_cli_runner()
    source, target = make_case(), make_case()
    result = runner.invoke(main, ["case", "merge", source.ref, target.ref, "--reason", "dup"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["case", "delete", source.ref])
    assert result.exit_code == 1 and "retention" in result.output


# ---------------------------------------------------------------- merge as its own move
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
MERGEABLE_SOURCES = {"reported", "triage", "investigating"}
OPEN_TARGETS = set(STATES) - {"closed", "dismissed"}


@pytest.mark.parametrize("source_state", STATES)
def test_a_case_merges_only_before_legal_review(make_case, actor_for, source_state):
    counsel = actor_for("counsel")
    source, target = make_case(title="Newer"), make_case(title="Older")
    source.state = source_state  # arranged directly: the rule under test is the merge's
    db.session.commit()
    if source_state in MERGEABLE_SOURCES:
        merge_cases(source, target, counsel, "same campaign")
        assert source.state == "closed"
    else:
        with pytest.raises(WorkflowRefused, match="only a case in reported, triage, investigating"):
            merge_cases(source, target, counsel, "same campaign")
        assert source.state == source_state


@pytest.mark.parametrize("target_state", STATES)
def test_a_case_merges_only_into_an_open_case(make_case, actor_for, target_state):
    counsel = actor_for("counsel")
    source, target = make_case(title="Newer"), make_case(title="Older")
    target.state = target_state
    db.session.commit()
    if target_state in OPEN_TARGETS:
        merge_cases(source, target, counsel, "same campaign")
    else:
        with pytest.raises(WorkflowRefused, match="reopen it before merging"):
            merge_cases(source, target, counsel, "same campaign")


def test_the_merge_rule_is_the_documented_one(app):
    """README's workflow table has a merge row saying who may merge, from and to which states."""
    from compliance import PROJECT_ROOT
    from compliance.auth.permissions import PERMISSIONS
    from compliance.cases.workflow import MERGE

    assert set(MERGE.sources) == MERGEABLE_SOURCES and set(MERGE.targets) == OPEN_TARGETS
    assert MERGE.roles == PERMISSIONS["case.merge"] == frozenset({"counsel"})
    readme = (PROJECT_ROOT / "README.md").read_text()
    row = next(
        line
        for line in readme.splitlines()
        if line.startswith("| reported, triage, investigating | merged")
    )
    assert "counsel" in row and "any open case" in row


def test_a_merged_case_cannot_be_reopened(make_case, actor_for):
    counsel = actor_for("counsel")
    source, target = make_case(title="Newer"), make_case(title="Older")
    merge_cases(source, target, counsel, "same campaign")
    db.session.commit()
    with pytest.raises(WorkflowRefused, match=f"was merged into {target.ref}"):
        operations.transition_case(
            source, "investigating", counsel, TransitionRequest(reason="look again")
        )
