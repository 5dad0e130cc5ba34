"""Reading notices: one by id, a case's (the Notices tab), the list with its filters, what
the team waits for next, and the JSON the API and the CLI print.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from compliance.cases.models import Case
from compliance.errors import InvalidInput, NotFound
from compliance.extensions import db
from compliance.notices.models import (
    FINAL_NOTICE_STATES,
    NOTICE_STATES,
    InformationRequest,
    Notice,
    Recipient,
)


def get_notice(notice_id: int, case: Case | None = None) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None or (case is not None and notice.case_id != case.id):
        raise NotFound(f"no notice {notice_id}")
    return notice


def get_information_request(request_id: int, notice: Notice) -> InformationRequest:
    info = db.session.get(InformationRequest, request_id)
    if info is None or info.notice_id != notice.id:
        raise NotFound(f"no request {request_id} on notice {notice.id}")
    return info


def notices_for_case(case: Case) -> list[Notice]:
    return list(
        db.session.scalars(select(Notice).where(Notice.case_id == case.id).order_by(Notice.id))
    )


def list_notices(
    *,
    state: str | None = None,
    case: Case | None = None,
    recipient: Recipient | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Notice], int]:
    """Notices, newest first, with the total before paging."""
    query = select(Notice)
    if state:
        if state not in NOTICE_STATES:
            raise InvalidInput("unknown state", details={"state": state})
        query = query.where(Notice.state == state)
    if case is not None:
        query = query.where(Notice.case_id == case.id)
    if recipient is not None:
        query = query.where(Notice.recipient_id == recipient.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Notice.sent_at.desc(), Notice.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query)), total


def unsettled_notices(case: Case) -> list[Notice]:
    """The case's notices that are neither resolved nor withdrawn (closing waits for these)."""
    return [n for n in notices_for_case(case) if n.state not in FINAL_NOTICE_STATES]


def notice_count(case: Case) -> int:
    """Notices sent for the case (the workflow's guard: a notice was sent before closing)."""
    return len(notices_for_case(case))


def unsettled_notice_labels(case: Case) -> list[str]:
    """The case's unsettled notices as "reference (state)", as the closing guard names them."""
    return [f"{n.our_reference} ({n.state_label.lower()})" for n in unsettled_notices(case)]


def next_step(notice: Notice) -> str:
    """What the team waits for next, in words (the case tab and the notice page show it)."""
    return {
        "sent": "await acknowledgment",
        "acknowledged": "await the recipient's decision",
        "counter_notice_received": "restore or file suit within the statutory window",
        "resolved": "monitor for re-uploads",
        "restored": "—",
        "suit_filed": "follow the litigation",
        "withdrawn": "—",
    }.get(notice.state, "")


def notice_json(n: Notice, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": n.id,
        "case_ref": n.case.ref,
        "packet_id": n.packet_id,
        "packet_type": n.packet_type,
        "recipient": n.recipient_name,
        "recipient_id": n.recipient_id,
        "channel": n.channel,
        "sent_at": n.sent_at.isoformat(),
        "packet_sha256": n.packet_sha256,
        "our_reference": n.our_reference,
        "their_reference": n.their_reference,
        "state": n.state,
        "outcome": n.outcome,
        "owner": n.owner.email if n.owner else None,
        "acknowledged_at": n.acknowledged_at.isoformat() if n.acknowledged_at else None,
        "counter_notice_received_on": (
            n.counter_notice_received_on.isoformat() if n.counter_notice_received_on else None
        ),
        "resolved_at": n.resolved_at.isoformat() if n.resolved_at else None,
        "withdraw_reason": n.withdraw_reason,
        "next_step": next_step(n),
    }
    if n.packet_type == "referral":
        body["referral"] = {
            "agency_case_number": n.agency_case_number,
            "assigned_agent": n.assigned_agent,
            "status": n.referral_status,
        }
    if detail:
        body["proof_sha256"] = n.proof.sha256 if n.proof else None
        body["identifiers"] = [{"kind": i.kind, "value": i.value} for i in n.identifiers]
        body["events"] = [
            {
                "kind": e.kind,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "occurred_at": e.occurred_at.isoformat(),
                "actor": e.actor,
                "note": e.note,
                "evidence_sha256": e.evidence_item.sha256 if e.evidence_item else None,
            }
            for e in n.events
        ]
        body["information_requests"] = [
            {
                "id": r.id,
                "received_on": r.received_on.isoformat(),
                "request": r.request,
                "due_on": r.due_on.isoformat() if r.due_on else None,
                "answer_packet_id": r.answer_packet_id,
                "answered_at": r.answered_at.isoformat() if r.answered_at else None,
            }
            for r in n.information_requests
        ]
    return body
