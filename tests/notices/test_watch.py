"""The re-upload watch: material an earlier notice had taken down, seen again in a new finding
or entered by an analyst, is flagged on the notice and the cases, once, with a follow-up."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.errors import InvalidInput, WorkflowRefused
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db
from compliance.notices import watch
from compliance.notices.operations import transition_notice
from compliance.notices.tracking import RepeatFlag
from compliance.reviews.models import Notification
from tests.findings import make_finding
from tests.notices.followup import REPOSITORY, make_recipient, send_notice

WEIGHTS = b"safetensors stand-in: the distilled model's weights, shard 1 of 1\n"
WEIGHTS_SHA256 = hashlib.sha256(WEIGHTS).hexdigest()


def reupload_finding(**metrics):
    """A canary hit against the same model re-uploaded under another name, its file attached."""
    return make_finding(
        detector={"name": "canary-watch", "version": "1.2.0"},
        kind="canary_hit",
        subjects=[{"type": "org", "id": "Nimbus AI"}],
        metrics={"probes": 40, "canary_matches": 37, "model": "acme-mirror/renamed-7b", **metrics},
        attachments=[
            {
                "name": "model.safetensors",
                "media_type": "application/octet-stream",
                "content_base64": base64.b64encode(WEIGHTS).decode(),
            }
        ],
    )


@pytest.fixture
def removed(app, make_case, make_user):
    """A takedown notice whose model (repository, file hash) the platform removed."""
    owner = make_user("analyst")
    counsel = Actor.for_user(make_user("counsel"))
    case = make_case(summary="A distilled model hosted on Tensorloft")
    notice = send_notice(
        case, counsel, make_recipient(counsel), owner_id=owner.id, files=[WEIGHTS_SHA256]
    )
    transition_notice(notice, counsel, "resolved", outcome="removed")
    db.session.commit()
    return notice, counsel, owner


def test_a_reupload_of_a_removed_models_file_is_flagged_on_ingest(backend, removed, operator):
    notice, _counsel, owner = removed
    (outcome,) = ingest_findings(reupload_finding(), operator, channel="api")
    db.session.commit()
    (flag,) = db.session.scalars(select(RepeatFlag)).all()
    assert (flag.notice_id, flag.kind, flag.value) == (notice.id, "file_sha256", WEIGHTS_SHA256)
    assert flag.finding_id == outcome.finding_id and flag.source == "finding"
    assert flag.seen_case.ref == outcome.case_ref != notice.case.ref  # a new case opened
    # Audited on the notice's case and on the case the finding went to.
    events = {
        e.action: e
        for e in db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.in_(("notice.repeat_flagged", "finding.repeat_of_notice"))
            )
        )
    }
    assert events["notice.repeat_flagged"].object_id == str(notice.id)
    assert events["notice.repeat_flagged"].details["seen_on_case"] == outcome.case_ref
    assert events["finding.repeat_of_notice"].details["notice"] == notice.our_reference
    # The notice's owner is told.
    (told,) = db.session.scalars(select(Notification).where(Notification.kind == "notice_repeat"))
    assert told.recipient_id == owner.id and told.link == f"/notices/{notice.id}"
    # Shown on both cases.
    assert watch.flags_for_case(notice.case) == [flag] == watch.flags_for_case(flag.seen_case)
    # The same finding sent again is a duplicate: no second flag.
    ingest_findings(reupload_finding() | {"external_id": flag.finding.external_id}, operator)
    db.session.commit()
    assert db.session.scalar(select(db.func.count(RepeatFlag.id))) == 1


def test_identifiers_in_metrics_match_after_normalising(backend, removed, operator):
    notice, _counsel, _owner = removed
    finding = reupload_finding(mirror={"url": REPOSITORY.upper() + "/"})
    finding["attachments"] = []
    ingest_findings(finding, operator)
    db.session.commit()
    flags = db.session.scalars(select(RepeatFlag).order_by(RepeatFlag.id)).all()
    assert {(f.kind, f.value) for f in flags} == {("url", REPOSITORY.lower())} | {
        ("repository", REPOSITORY.lower())
    }


def test_material_not_taken_down_is_no_repeat(backend, app, make_case, make_user, operator):
    counsel = Actor.for_user(make_user("counsel"))
    notice = send_notice(make_case(), counsel, None, files=[WEIGHTS_SHA256])  # still "sent"
    ingest_findings(reupload_finding(), operator)
    db.session.commit()
    assert db.session.scalars(select(RepeatFlag)).all() == []
    transition_notice(notice, counsel, "resolved", outcome="refused")
    db.session.commit()
    ingest_findings(reupload_finding(), operator)
    db.session.commit()
    assert db.session.scalars(select(RepeatFlag)).all() == []


def test_an_analysts_entry_flags_once_and_the_flag_is_closed_with_a_reason(
    backend, removed, actor_for
):
    notice, _counsel, _owner = removed
    analyst = actor_for("analyst")
    result = watch.check_identifier(
        analyst, "url", f"  {REPOSITORY.upper()}/ ", where_seen="Linked from a forum post"
    )
    db.session.commit()
    assert result.notices == [notice] and len(result.flags) == 2  # as a URL and a repository
    again = watch.check_identifier(analyst, "repository", REPOSITORY)
    assert again.notices == [notice] and again.flags == []  # already flagged and open
    assert not watch.check_identifier(analyst, "model_name", "someone/else").repeat
    flag = result.flags[0]
    with pytest.raises(InvalidInput):
        watch.close_flag(flag, analyst, "dismissed")
    watch.close_flag(flag, analyst, "dismissed", "A mirror of our own public paper, not the model")
    db.session.commit()
    with pytest.raises(WorkflowRefused):
        watch.close_flag(flag, analyst, "followed_up")
    assert flag.status == "dismissed"
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions.count("notice.repeat_flagged") == 2
    assert "notice.repeat_dismissed" in actions and "notice.identifier_checked" in actions


def test_the_follow_up_notice_is_composed_citing_the_earlier_one(
    backend, removed, login_as, operator
):
    notice, _counsel, _owner = removed
    ingest_findings(reupload_finding(), operator)
    db.session.commit()
    flag = db.session.scalar(select(RepeatFlag))
    _user, client = login_as("counsel")
    page = client.get(f"/notices/{notice.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Re-uploads" in html and WEIGHTS_SHA256 in html and "File SHA-256" in html
    response = client.get(f"/notices/repeats/{flag.id}/follow-up")
    assert response.status_code == 302
    compose = client.get(response.headers["Location"])
    assert compose.status_code == 200
    text = compose.get_data(as_text=True)
    assert f"This notice follows our notice {notice.our_reference}" in text
    tab = client.get(f"/cases/{flag.seen_case.ref}?tab=notices")
    assert notice.our_reference in tab.get_data(as_text=True)
