"""Notes keep their history; privileged notes are for counsel only; holds need reasons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.cases import operations
from compliance.errors import Conflict, InvalidInput, PermissionDenied
from compliance.extensions import db

SECRET = "Counsel's view: the ToS claim is stronger than copyright here."


def test_privileged_notes_are_invisible_to_analyst_and_auditor(app, make_case, login_as):
    counsel, counsel_client = login_as("counsel")
    case = make_case()
    response = counsel_client.post(
        f"/cases/{case.ref}/notes", data={"body": SECRET, "privileged": "y"}
    )
    assert response.status_code == 302
    assert SECRET.encode() in counsel_client.get(f"/cases/{case.ref}?tab=notes").data
    for role in ("analyst", "auditor"):
        _, client = login_as(role)
        page = client.get(f"/cases/{case.ref}?tab=notes")
        assert page.status_code == 200
        assert SECRET.encode() not in page.data
        audit = client.get(f"/cases/{case.ref}?tab=audit").data
        assert SECRET.encode() not in audit  # the audit trail keeps only a fingerprint


def test_viewing_privileged_notes_is_recorded(app, make_case, login_as):
    counsel, client = login_as("counsel")
    case = make_case()
    client.post(f"/cases/{case.ref}/notes", data={"body": SECRET, "privileged": "y"})
    client.get(f"/cases/{case.ref}?tab=notes")
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))
    assert event.action == "note.privileged_viewed" and event.actor == f"user:{counsel.email}"


def test_only_counsel_may_write_privileged_notes(app, make_case, actor_for):
    case = make_case()
    with pytest.raises(PermissionDenied):
        operations.add_note(case, actor_for("analyst"), SECRET, privileged=True)
    with pytest.raises(PermissionDenied):
        operations.add_note(case, actor_for("auditor"), "an auditor cannot annotate")


def test_editing_a_note_keeps_the_earlier_text(app, make_case, actor_for):
    analyst = actor_for("analyst")
    case = make_case()
    note = operations.add_note(case, analyst, "212 accounts, 14 templates")
    db.session.commit()
    operations.edit_note(note, analyst, "212 accounts, 15 templates", note.version)
    db.session.commit()
    assert note.body == "212 accounts, 15 templates"
    assert [r.body for r in note.revisions] == ["212 accounts, 14 templates"]
    with pytest.raises(Conflict):
        operations.edit_note(note, analyst, "stale edit", expected_version=1)
    with pytest.raises(PermissionDenied, match="author or counsel"):
        operations.edit_note(note, actor_for("analyst"), "someone else's edit")


def test_legal_hold_place_and_release_each_need_a_reason(app, make_case, actor_for):
    counsel = actor_for("counsel")
    case = make_case()
    with pytest.raises(InvalidInput):
        operations.place_hold(case, counsel, " ")
    operations.place_hold(case, counsel, "Litigation anticipated against the reseller")
    db.session.commit()
    with pytest.raises(Conflict):
        operations.place_hold(case, counsel, "again")
    with pytest.raises(PermissionDenied):
        operations.release_hold(case, actor_for("analyst"), "analysts cannot release")
    operations.release_hold(case, counsel, "Matter settled; retention rules apply again")
    db.session.commit()
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq)
    ).all()
    assert actions[-2:] == ["hold.placed", "hold.released"]
