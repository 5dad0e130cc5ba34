"""The directory, a notice's birth from a sent packet, its workflow table, identifiers, referral
follow-up and the case workflow's guards on notices — through the operations, both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.cases import operations as case_ops
from compliance.cases.approval import approval_content
from compliance.cases.models import Case
from compliance.cases.workflow import TransitionRequest
from compliance.db import utcnow
from compliance.errors import InvalidInput, PermissionDenied, WorkflowRefused
from compliance.evidence.models import CustodyEvent, EvidenceItem
from compliance.extensions import db
from compliance.notices import operations as ops
from compliance.notices.models import NOTICE_STATES, NoticeIdentifier
from tests.notices.conftest import PLATFORM, PROOF


def TODAY():  # noqa: N802 - reads like the constant it stands for
    return utcnow().date()


def last_event() -> AuditEvent:
    return db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))


# ---------------------------------------------------------------- directory
def test_counsel_and_admins_maintain_the_directory_and_each_change_is_audited(app, actor_for):
    admin = actor_for("admin")
    entry = ops.create_recipient(admin, dict(PLATFORM))
    db.session.commit()
    assert last_event().action == "recipient.created"
    ops.update_recipient(
        entry, actor_for("counsel"), {"in_sharing_community": True, "response_days": 7}
    )
    db.session.commit()
    event = last_event()
    assert event.action == "recipient.updated"
    assert event.changes["response_days"] == {"before": 5, "after": 7}
    assert event.changes["in_sharing_community"] == {"before": False, "after": True}
    with pytest.raises(PermissionDenied):
        ops.update_recipient(entry, actor_for("analyst"), {"response_days": 1})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"jurisdiction": "Netherlands"}, "jurisdiction"),
        ({"kind": "court"}, "kind"),
        ({"accepted_bases": ["dmca"]}, "accepted_bases"),
        ({"web_form_url": "http://insecure.example/form"}, "web_form_url"),
        ({"email": "not-an-address"}, "email"),
        ({"response_days": 400}, "response_days"),
        ({"name": "MODELHAVEN HOSTING B.V. (FICTIONAL)"}, "name"),  # already listed
    ],
)
def test_a_directory_entry_is_refused_naming_the_bad_field(app, recipient, counsel, change, field):
    with pytest.raises(InvalidInput) as refused:
        ops.create_recipient(counsel, dict(PLATFORM) | {"name": "Another host"} | change)
    assert field in refused.value.details


# ---------------------------------------------------------------- sending makes a notice
def test_marking_a_packet_sent_makes_a_notice_with_proof_kept_as_evidence(
    app, recipient, stored_packet, send, counsel
):
    packet = stored_packet(recipient_id=recipient.id)
    notice = send(packet, their_reference="MH-77", proof=PROOF)
    assert (notice.state, notice.recipient_id, notice.recipient_name) == (
        "sent",
        recipient.id,
        recipient.name,
    )
    assert packet.sent_to == recipient.name  # addressed from the composition's directory entry
    assert notice.packet_sha256 == packet.sha256 and notice.their_reference == "MH-77"
    assert notice.our_reference == f"{packet.case.ref}-N{notice.id:04d}"
    assert notice.owner_id == counsel.user_id
    proof = notice.proof
    assert proof.role == "correspondence" and proof.case_id == packet.case_id
    assert proof.size_bytes == len(PROOF.data)
    custody = db.session.scalars(select(CustodyEvent).where(CustodyEvent.item_id == proof.id))
    assert [c.action for c in custody] == ["ingested"]
    assert {(i.kind, i.value) for i in notice.identifiers} == {
        ("url", "https://modelhaven.example/acme/distilled-7b"),
        ("repository", "https://modelhaven.example/acme/distilled-7b"),
        ("model_name", "acme/distilled-7b"),
        ("file_sha256", "a" * 64),
    }
    assert last_event().action == "notice.sent"
    assert last_event().details["proof_sha256"] == proof.sha256
    # Correspondence is not what counsel approved: it never changes the approval's snapshot.
    assert str(proof.id) not in approval_content(packet.case)["evidence"]


def test_a_one_off_recipient_is_free_text(app, stored_packet, send):
    notice = send(stored_packet(), recipient="Small Mirror Site Ltd", channel="web_form")
    assert notice.recipient_id is None and notice.recipient_name == "Small Mirror Site Ltd"


# ---------------------------------------------------------------- the notice workflow
PATHS = [
    ["acknowledged", "resolved"],
    ["acknowledged", "counter_notice_received", "restored"],
    ["resolved", "counter_notice_received", "suit_filed"],
    ["counter_notice_received", "withdrawn"],
    ["withdrawn"],
]


@pytest.mark.parametrize("path", PATHS, ids=["-".join(p) for p in PATHS])
def test_a_notice_walks_its_states_each_step_audited(app, stored_packet, send, counsel, path):
    notice = send(stored_packet(), recipient="Modelhaven")
    for target in path:
        ops.transition_notice(
            notice,
            counsel,
            target,
            occurred_at=TODAY(),
            outcome="removed" if target == "resolved" else None,
            reason="documented reason",
            response=PROOF if target == "acknowledged" else None,
        )
        db.session.commit()
        assert notice.state == target
        assert last_event().action == f"notice.{target}"
    assert [e.kind for e in notice.events] == ["sent", *path]
    assert notice.resolved_at is not None
    if "counter_notice_received" in path:
        assert notice.counter_notice_received_on == TODAY()


@pytest.mark.parametrize("source", list(NOTICE_STATES))
def test_moves_outside_the_table_are_refused(app, stored_packet, send, source, counsel):
    notice = send(stored_packet(), recipient="Modelhaven")
    notice.state, notice.outcome = source, "removed"
    db.session.commit()
    allowed = {t.target for t in ops.NOTICE_TRANSITIONS if source in t.sources}
    for target in set(NOTICE_STATES) - allowed:
        with pytest.raises(WorkflowRefused, match="cannot become"):
            ops.transition_notice(notice, counsel, target, occurred_at=TODAY())


def test_guards_name_what_is_missing(app, stored_packet, send, counsel, actor_for):
    notice = send(stored_packet(), recipient="Modelhaven")
    with pytest.raises(InvalidInput) as refused:
        ops.transition_notice(notice, counsel, "withdrawn")
    assert refused.value.details == {"reason": "needs a reason"}
    with pytest.raises(InvalidInput) as refused:
        ops.transition_notice(notice, counsel, "resolved", outcome="gone")
    assert "outcome" in refused.value.details
    with pytest.raises(InvalidInput) as refused:
        ops.transition_notice(notice, counsel, "counter_notice_received")
    assert "occurred_at" in refused.value.details
    with pytest.raises(InvalidInput, match="future|cannot"):
        ops.transition_notice(
            notice, counsel, "acknowledged", occurred_at=utcnow() + timedelta(days=2)
        )
    analyst = actor_for("analyst")
    with pytest.raises(PermissionDenied):  # withdrawing is counsel's call
        ops.transition_notice(notice, analyst, "withdrawn", reason="sent to the wrong host")
    with pytest.raises(PermissionDenied):
        ops.transition_notice(notice, actor_for("auditor"), "acknowledged")
    ops.transition_notice(notice, analyst, "resolved", outcome="refused")
    with pytest.raises(WorkflowRefused, match="follows a removal"):
        ops.transition_notice(notice, counsel, "counter_notice_received", occurred_at=TODAY())


# ---------------------------------------------------------------- identifiers
def test_identifiers_are_edited_normalised_and_found_again(app, stored_packet, send, counsel):
    notice = send(stored_packet(), recipient="Modelhaven")
    ops.set_identifiers(
        notice,
        counsel,
        [("model_name", "  ACME/Distilled-7B "), ("url", "https://mirror.example/x/")],
        note="mirror found",
    )
    db.session.commit()
    assert {(i.kind, i.value) for i in notice.identifiers} == {
        ("model_name", "acme/distilled-7b"),
        ("url", "https://mirror.example/x"),
    }
    event = last_event()
    assert event.action == "notice.identifiers_changed"
    assert ["url", "https://mirror.example/x"] in event.details["added"]
    assert ops.notices_matching("model_name", "acme/DISTILLED-7b") == [notice]
    assert ops.notices_matching("url", "https://elsewhere.example") == []
    with pytest.raises(InvalidInput) as refused:
        ops.set_identifiers(notice, counsel, [("file_sha256", "abc"), ("colour", "red")])
    assert set(refused.value.details) == {"identifiers.0", "identifiers.1"}
    assert db.session.scalar(select(db.func.count()).select_from(NoticeIdentifier)) == 2


# ---------------------------------------------------------------- referral follow-up
def test_a_referral_records_the_agencys_case_agent_and_requests(app, stored_packet, send, counsel):
    referral = send(stored_packet("referral"), recipient="Fictional Cyber Unit")
    first = stored_packet("takedown", case=referral.case)  # another packet of the same case
    assert referral.referral_status == "submitted"
    ops.update_referral(
        referral,
        counsel,
        agency_case_number="FCU-2026-0193",
        assigned_agent="Special Agent R. Example",
        referral_status="assigned",
    )
    info = ops.record_information_request(
        referral,
        counsel,
        received_on=TODAY(),
        request="Server logs for the 14 templates",
        due_on=TODAY() + timedelta(days=10),
    )
    db.session.commit()
    assert referral.referral_status == "information_requested"
    with pytest.raises(WorkflowRefused, match="same case, recorded as sent"):
        ops.answer_information_request(info, counsel, first)
    send(first, recipient="Fictional Cyber Unit")
    ops.answer_information_request(info, counsel, first)
    db.session.commit()
    assert info.answer_packet_id == first.id and referral.referral_status == "under_investigation"
    assert [e.kind for e in referral.events] == [
        "sent",
        "referral",
        "information_requested",
        "information_answered",
    ]
    takedown = db.session.scalar(select(ops.Notice).where(ops.Notice.packet_id == first.id))
    with pytest.raises(WorkflowRefused):
        ops.update_referral(takedown, counsel, agency_case_number="X")


# ---------------------------------------------------------------- the case workflow
def _approved_case(make_case, counsel: Actor) -> Case:
    case = make_case(summary="212 accounts")
    db.session.execute(
        db.update(Case)
        .where(Case.id == case.id)
        .values(state="approved", chosen_actions=["takedown"], version=Case.version + 1)
    )
    db.session.commit()
    db.session.refresh(case)
    return case


def test_action_taken_needs_a_notice_and_closing_needs_every_notice_settled(
    app, make_case, stored_packet, send, counsel
):
    case = _approved_case(make_case, counsel)
    with pytest.raises(WorkflowRefused, match="at least one notice sent"):
        case_ops.transition_case(case, "action_taken", counsel, TransitionRequest())
    db.session.rollback()
    notice = send(stored_packet(case=case), recipient="Modelhaven", proof=PROOF)
    assert case.state == "approved"  # the proof, kept as evidence, did not withdraw approval
    case_ops.transition_case(case, "action_taken", counsel, TransitionRequest())
    db.session.commit()
    closing = TransitionRequest(outcome="model removed")
    with pytest.raises(WorkflowRefused, match=f"{notice.our_reference} \\(sent\\)"):
        case_ops.transition_case(case, "closed", counsel, closing)
    db.session.rollback()
    ops.transition_notice(notice, counsel, "withdrawn", reason="settled directly with uploader")
    case_ops.transition_case(case, "closed", counsel, closing)
    db.session.commit()
    assert case.state == "closed"
    assert (
        db.session.scalar(
            select(db.func.count()).select_from(EvidenceItem).where(EvidenceItem.case_id == case.id)
        )
        == 1
    )


def test_a_packet_addressed_to_the_directory_takes_its_community_membership(
    app, recipient, counsel, make_case
):
    from compliance.packets.composition import parse
    from compliance.packets.operations import request_packet

    addressed = ops.address_composition(parse({"recipient_id": recipient.id}))
    assert (addressed.recipient, addressed.recipient_in_community) == (recipient.name, False)
    assert "notices@modelhaven.example" in addressed.recipient_contact
    ops.update_recipient(recipient, counsel, {"in_sharing_community": True})
    ticked_off = parse({"recipient_id": recipient.id, "recipient_in_community": False})
    assert ops.address_composition(ticked_off).recipient_in_community is True
    packet = request_packet(
        make_case(), "takedown", counsel, fields={"basis": "terms", "recipient_id": recipient.id}
    )
    assert packet.request_fields["recipient_in_community"] is True
    assert packet.request_fields["recipient"] == recipient.name
    with pytest.raises(InvalidInput) as refused:
        ops.address_composition(parse({"recipient_id": 999999}))
    assert "recipient_id" in refused.value.details
