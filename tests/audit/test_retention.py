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
