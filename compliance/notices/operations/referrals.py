"""A referral's follow-up: the agency's case number and agent, its requests for information
and the supplemental packets that answer them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, WorkflowRefused
from compliance.extensions import db
from compliance.notices.models import REFERRAL_STATUSES, InformationRequest, Notice
from compliance.notices.operations.events import _as_datetime, _event
from compliance.packets.models import Packet


def update_referral(
    notice: Notice,
    actor: Actor,
    *,
    agency_case_number: str | None = None,
    assigned_agent: str | None = None,
    referral_status: str | None = None,
) -> Notice:
    """The agency's case number, the agent it assigned, and where the referral stands."""
    require_permission(actor, "notice.manage")
    if notice.packet_type != "referral":
        raise WorkflowRefused("only a referral has an agency case number and agent")
    errors: dict[str, str] = {}
    wanted: dict[str, Any] = {}
    if agency_case_number is not None:
        wanted["agency_case_number"] = agency_case_number.strip()
        if len(wanted["agency_case_number"]) > 100:
            errors["agency_case_number"] = "at most 100 characters"
    if assigned_agent is not None:
        wanted["assigned_agent"] = assigned_agent.strip()
        if len(wanted["assigned_agent"]) > 200:
            errors["assigned_agent"] = "at most 200 characters"
    if referral_status is not None:
        if referral_status not in REFERRAL_STATUSES:
            errors["referral_status"] = "one of " + ", ".join(REFERRAL_STATUSES)
        wanted["referral_status"] = referral_status
    if errors:
        raise InvalidInput("the referral details are not valid", details=errors)
    changes = {
        name: {"before": getattr(notice, name), "after": value}
        for name, value in wanted.items()
        if getattr(notice, name) != value
    }
    if not changes:
        return notice
    for name, change in changes.items():
        setattr(notice, name, change["after"])
    _event(
        notice,
        actor,
        "referral",
        note="; ".join(f"{k.replace('_', ' ')}: {v['after']}" for k, v in changes.items()),
    )
    db.session.flush()
    record(
        "notice.referral_updated",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes=changes,
    )
    return notice


def record_information_request(
    notice: Notice,
    actor: Actor,
    *,
    received_on: date,
    request: str,
    due_on: date | None = None,
) -> InformationRequest:
    """The agency asks for more: recorded, and the referral's status says so."""
    require_permission(actor, "notice.manage")
    if notice.packet_type != "referral":
        raise WorkflowRefused("only an agency's referral receives requests for information")
    request = (request or "").strip()
    errors: dict[str, str] = {}
    if not request:
        errors["request"] = "what the agency asks for"
    if received_on is None:
        errors["received_on"] = "the date it arrived"
    elif received_on > utcnow().date():
        errors["received_on"] = "cannot be in the future"
    if due_on is not None and received_on is not None and due_on < received_on:
        errors["due_on"] = "cannot be before it arrived"
    if errors:
        raise InvalidInput("the request is not complete", details=errors)
    info = InformationRequest(
        received_on=received_on, request=request, due_on=due_on, recorded_by=actor.label
    )
    notice.information_requests.append(info)
    before_status = notice.referral_status
    notice.referral_status = "information_requested"
    _event(
        notice,
        actor,
        "information_requested",
        occurred_at=_as_datetime(received_on),
        note=request,
    )
    db.session.flush()
    record(
        "notice.information_requested",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes={"referral_status": {"before": before_status, "after": "information_requested"}},
        details={"request_id": info.id, "received_on": received_on, "due_on": due_on},
    )
    return info


def answer_information_request(
    info: InformationRequest, actor: Actor, packet: Packet
) -> InformationRequest:
    """Record that a supplemental packet (same case, sent) answered the agency's request."""
    require_permission(actor, "notice.manage")
    notice = info.notice
    if info.answered_at is not None:
        raise Conflict(f"request {info.id} was already answered")
    if packet.case_id != notice.case_id or packet.draft or not packet.is_sent:
        raise WorkflowRefused(
            "the answer is a final packet of the same case, recorded as sent to the agency"
        )
    info.answer_packet = packet
    info.answered_at = utcnow()
    notice.referral_status = "under_investigation"
    _event(
        notice,
        actor,
        "information_answered",
        note=f"answered with packet {packet.id} ({packet.bates_range or 'no Bates range'})",
    )
    db.session.flush()
    record(
        "notice.information_answered",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={"request_id": info.id, "packet_id": packet.id, "bates": packet.bates_range},
    )
    return info
