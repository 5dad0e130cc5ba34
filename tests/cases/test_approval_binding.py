"""An approval covers what counsel saw: a later change sends the case back to legal review.

The penetration test: after counsel approved a case, an analyst changed its summary and the
accused party and superseded an exhibit, and final packets were still allowed.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from compliance import PROJECT_ROOT
from compliance.audit.models import AuditEvent
from compliance.cases import approval
from compliance.cases.approval import approval_drift
from compliance.cases.operations import transition_case, update_case
from compliance.cases.workflow import TransitionRequest
from compliance.errors import WorkflowRefused
from compliance.evidence.models import EvidenceItem
from compliance.extensions import db
from tests.findings import make_finding


@pytest.fixture
def approved(make_case, actor_for, operator) -> dict[str, Any]:
    """A case approved by counsel: one finding, one clause, the usual facts."""
    from compliance.evidence.operations import ingest_findings
    from compliance.policies.operations import cite_clause, find_clause, sync_policies

    analyst, counsel, approver = actor_for("analyst"), actor_for("counsel"), actor_for("counsel")
    sync_policies(operator, PROJECT_ROOT / "policies")
    case = make_case(
        owner_id=analyst.user_id,
        summary="212 accounts sent templated prompts.",
        suspected_actor="Acme Distill Labs",
        jurisdiction="US (N.D. Cal.)",
        incident_start=datetime(2026, 10, 1, tzinfo=UTC),
        incident_end=datetime(2026, 10, 20, tzinfo=UTC),
    )
    ingest_findings([make_finding()], analyst, channel="cli", into_case=case)
    cite_clause(case, analyst, find_clause("api-terms@2026-03#4.2"), "Templated extraction.")
    db.session.commit()
    for target, who in (
        ("triage", analyst),
        ("investigating", analyst),
        ("legal_review", analyst),
        ("approved", approver),
    ):
        transition_case(case, target, who, TransitionRequest(reason="ok", actions=("takedown",)))
    db.session.commit()
    return {"case": case, "analyst": analyst, "counsel": counsel, "approver": approver}


def test_the_approval_records_what_it_covers(approved):
    case = approved["case"]
    step = case.transitions[-1]
    assert step.to_state == "approved" and len(step.covers_sha256) == 64
    assert step.covers["case"]["suspected_actor"] == "Acme Distill Labs"
    assert len(step.covers["evidence"]) >= 1 and len(step.covers["clauses"]) == 1
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "case.transition")
        .order_by(AuditEvent.seq.desc())
    )
    assert event.details["covers_sha256"] == step.covers_sha256
    assert approval_drift(case) == []


def test_an_analyst_changing_the_accused_party_sends_the_case_back(approved):
    case, analyst = approved["case"], approved["analyst"]
    update_case(
        case, analyst, {"suspected_actor": "Someone Else Ltd", "summary": "A different story."}
    )
    db.session.commit()
    assert case.state == "legal_review"
    step = case.transitions[-1]
    assert step.from_state == "approved" and step.actor == analyst.label
    assert "suspected actor" in step.reason and "summary" in step.reason
    withdrawn = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "case.approval_withdrawn")
    )
    changes = {c["what"]: c for c in withdrawn.details["changed_since_approval"]}
    assert changes["case field suspected actor"]["before"] == "Acme Distill Labs"
    assert changes["case field suspected actor"]["after"] == "Someone Else Ltd"
    # Counsel sees the difference when approving again, and may approve it.
    transition_case(
        case, "approved", approved["approver"], TransitionRequest(actions=("takedown",))
    )
    assert approval_drift(case) == []


def test_a_field_no_packet_states_does_not_withdraw_the_approval(approved, make_user):
    case = approved["case"]
    update_case(case, approved["analyst"], {"owner_id": make_user("analyst").id})
    assert case.state == "approved"


def test_superseding_an_exhibit_withdraws_the_approval(approved, login_as):
    case = approved["case"]
    item = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == case.id).order_by(EvidenceItem.id)
    ).first()
    _user, client = login_as("analyst")
    response = client.post(
        f"/cases/{case.ref}/evidence",
        data={
            "file": (io.BytesIO(b"corrected listing"), "listing.csv"),
            "description": "corrected cluster listing",
            "supersedes": str(item.id),
            "reason": "the first export was truncated",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert case.state == "legal_review"
    whats = [c["what"] for c in approval_drift(case)]
    assert f"evidence item {item.id} superseded or removed" in whats
    page = client.get(f"/cases/{case.ref}").get_data(as_text=True)
    assert "Changed since counsel" in page and "last approval" in page
    assert f"evidence item {item.id} superseded or removed" in page


def test_a_detector_finding_attached_after_approval_withdraws_it(approved, operator):
    from compliance.evidence.operations import ingest_findings

    case = approved["case"]
    (outcome,) = ingest_findings([make_finding()], operator, channel="api")  # same subjects
    db.session.commit()
    assert outcome.case_ref == case.ref and outcome.status == "attached"
    assert case.state == "legal_review"
    assert any(c["what"].endswith(" added") for c in approval_drift(case))


def test_withdrawing_the_cited_clause_withdraws_the_approval(approved):
    from compliance.policies.operations import citations_for_case, withdraw_citation

    case = approved["case"]
    (citation,) = citations_for_case(case)
    withdraw_citation(case, approved["counsel"], citation, "wrong clause")
    assert case.state == "legal_review"
    assert case.transitions[-1].actor == approved["counsel"].label
    # The counsel whose change withdrew the approval cannot approve the change (four-eyes).
    with pytest.raises(WorkflowRefused, match="four-eyes"):
        transition_case(
            case, "approved", approved["counsel"], TransitionRequest(actions=("takedown",))
        )


def test_no_action_is_recorded_on_a_stale_approval(approved, monkeypatch):
    """Even a change that bypassed the operations cannot lead to action on it."""
    from compliance.cases import readiness

    case = approved["case"]
    case.summary = "Edited behind the operations' back."
    db.session.commit()
    monkeypatch.setattr(readiness, "sent_packet_types", lambda case: {"takedown"})
    with pytest.raises(WorkflowRefused, match="changed since it was approved"):
        transition_case(case, "action_taken", approved["approver"], TransitionRequest())


@pytest.mark.parametrize("section", approval.CONTRIBUTED_SECTIONS)
def test_a_snapshot_missing_a_section_is_refused_not_taken(approved, monkeypatch, section):
    """A snapshot without a section would never see it change: no partial snapshot is taken."""
    monkeypatch.delitem(approval.section_providers, section)
    with pytest.raises(RuntimeError, match=rf"no provider for the approval section\(s\) {section}"):
        approval_drift(approved["case"])
