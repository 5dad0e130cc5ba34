"""Pages: the recipients directory, sending a packet, notices and their steps, the case tab."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from compliance.actor import Actor
from compliance.auth.access import current_actor, require
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.notices import operations
from compliance.notices.forms import (
    AnswerForm,
    IdentifiersForm,
    InformationRequestForm,
    NoticeStepForm,
    RecipientForm,
    ReferralForm,
    ResponseForm,
    SendForm,
)
from compliance.notices.models import IDENTIFIER_KINDS, NOTICE_STATES, REFERRAL_STATUSES
from compliance.packets import operations as packet_operations
from compliance.packets.models import Packet
from compliance.web.forms import show_refusal
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("notices", __name__, url_prefix="/notices")
recipients_bp = Blueprint("recipients", __name__, url_prefix="/recipients")
send_bp = Blueprint("sending", __name__, url_prefix="/cases/<ref>/packets")


def _worded(error: OperationError) -> str:
    """A refusal flashed on the notice page: the message, then what each field lacked."""
    details = error.details if isinstance(error.details, dict) else {}
    return "; ".join([error.message, *(f"{k.replace('_', ' ')}: {v}" for k, v in details.items())])


def _upload(field: Any, description: str = "") -> operations.Upload | None:
    storage = field.data
    if not storage or not getattr(storage, "filename", ""):
        return None
    return operations.Upload(
        name=storage.filename,
        media_type=storage.mimetype or "application/octet-stream",
        data=storage.read(),
        description=description,
    )


def _day(value: date | None) -> datetime | None:
    return datetime.combine(value, datetime.min.time(), tzinfo=UTC) if value else None


# ---------------------------------------------------------------- the directory
@recipients_bp.route("/", endpoint="index")
@require("recipient.view")
def recipient_list():
    kind = request.args.get("kind") or None
    recipients = operations.list_recipients(kind=kind)
    return render_template("notices/recipients.html", recipients=recipients, kind=kind)


@recipients_bp.route("/new", methods=["GET", "POST"])
@require("recipient.manage")
@transactional
def new():
    form = RecipientForm()
    refused = False
    if form.validate_on_submit():
        try:
            recipient = operations.create_recipient(current_actor(), form.fields())
        except OperationError as error:
            show_refusal(form, error)
            refused = True
        else:
            flash(f"{recipient.name} added to the directory.", "success")
            return redirect(url_for("recipients.index"))
    status = 422 if form.errors or refused else 200  # 422: nothing of a refusal is kept
    return render_template("notices/recipient_form.html", form=form, recipient=None), status


@recipients_bp.route("/<int:recipient_id>/edit", methods=["GET", "POST"])
@require("recipient.manage")
@transactional
def edit(recipient_id: int):
    recipient = operations.get_recipient(recipient_id)
    form = RecipientForm(obj=recipient)
    refused = False
    if form.validate_on_submit():
        version = request.form.get("version", type=int)
        try:
            operations.update_recipient(
                recipient, current_actor(), form.fields(), expected_version=version
            )
        except OperationError as error:
            show_refusal(form, error)
            refused = True
        else:
            flash(f"{recipient.name} saved.", "success")
            return redirect(url_for("recipients.index"))
    status = 422 if form.errors or refused else 200  # 422: nothing of a refusal is kept
    return render_template("notices/recipient_form.html", form=form, recipient=recipient), status


# ---------------------------------------------------------------- sending a packet
def _send_form(packet: Packet) -> SendForm:
    form = SendForm()
    choices = [("", "— one-off recipient —")]
    choices += [
        (str(r.id), f"{r.name} ({r.kind_label}, {r.jurisdiction})")
        for r in operations.list_recipients(active_only=True)
    ]
    form.recipient_id.choices = choices
    if request.method == "GET":
        stored = packet.request_fields or {}
        form.recipient_id.data = str(stored.get("recipient_id") or "")
        if not stored.get("recipient_id"):
            form.recipient.data = stored.get("recipient", "")
        form.sent_on.data = datetime.now(UTC).date()
    return form


@send_bp.route("/<int:packet_id>/send", methods=["GET", "POST"])
@require("packet.send")
@transactional
def send(ref: str, packet_id: int):
    """Record that a final packet was sent, with its proof: it becomes a notice."""
    case = get_case(ref)
    packet = packet_operations.get_packet(packet_id, case)
    form = _send_form(packet)
    refused = False
    if form.validate_on_submit():
        recipient_id = int(form.recipient_id.data) if form.recipient_id.data else None
        try:
            operations.mark_sent(
                packet,
                current_actor(),
                recipient=form.recipient.data or "",
                recipient_id=recipient_id,
                channel=form.channel.data,
                sent_on=_day(form.sent_on.data),
                their_reference=form.their_reference.data or "",
                proof=_upload(form.proof),
            )
        except OperationError as error:
            show_refusal(form, error)
            refused = True
        else:
            notice = db.session.scalar(
                select(operations.Notice).where(operations.Notice.packet_id == packet.id)
            )
            flash(f"Packet {packet.id} recorded as sent to {packet.sent_to}.", "success")
            if notice is not None:
                return redirect(url_for("notices.view", notice_id=notice.id))
            return redirect(url_for("cases.view", ref=ref, tab="notices"))
    status = 422 if form.errors or refused else 200  # 422: nothing of a refusal is kept
    return render_template("notices/send.html", case=case, packet=packet, form=form), status


# ---------------------------------------------------------------- notices
@bp.route("/")
@require("notice.view")
def index():
    state = request.args.get("state") or None
    if state not in (None, *NOTICE_STATES):
        abort(404)
    notices, total = operations.list_notices(state=state, limit=200)
    return render_template(
        "notices/list.html",
        notices=notices,
        total=total,
        state=state,
        states=NOTICE_STATES,
        next_step=operations.next_step,
    )


@bp.route("/<int:notice_id>")
@require("notice.view")
def view(notice_id: int):
    notice = operations.get_notice(notice_id)
    actor = current_actor()
    sent_packets = [
        p
        for p in packet_operations.packets_for_case(notice.case, actor)
        if p.is_sent and not p.draft and p.id != notice.packet_id
    ]
    answer_form = AnswerForm()
    answer_form.packet_id.choices = [
        (str(p.id), f"packet {p.id} ({p.bates_range or '—'})") for p in sent_packets
    ]
    referral_form = ReferralForm(obj=notice)
    identifiers_text = "\n".join(f"{i.kind} {i.value}" for i in notice.identifiers)
    return render_template(
        "notices/notice.html",
        notice=notice,
        case=notice.case,
        options=operations.notice_options(notice, actor),
        step_form=NoticeStepForm(),
        response_form=ResponseForm(),
        identifiers_form=IdentifiersForm(data={"identifiers": identifiers_text}),
        referral_form=referral_form,
        info_form=InformationRequestForm(),
        answer_form=answer_form,
        identifier_kinds=IDENTIFIER_KINDS,
        referral_statuses=REFERRAL_STATUSES,
        next_step=operations.next_step(notice),
        today=datetime.now(UTC).date().isoformat(),
    )


def _back(notice_id: int):
    return redirect(url_for("notices.view", notice_id=notice_id))


@bp.route("/<int:notice_id>/step", methods=["POST"])
@require("notice.manage")
@transactional
def step(notice_id: int):
    notice = operations.get_notice(notice_id)
    form = NoticeStepForm()
    if not form.validate_on_submit():
        flash(
            "Check the step's fields: " + "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()),
            "error",
        )
        return _back(notice_id)
    on_refusal(url_for("notices.view", notice_id=notice_id), _worded)
    operations.transition_notice(
        notice,
        current_actor(),
        form.target.data,
        occurred_at=form.occurred_on.data,
        note=form.note.data or "",
        outcome=form.outcome.data or None,
        reason=form.reason.data or None,
        their_reference=form.their_reference.data or None,
        response=_upload(form.response),
        expected_version=request.form.get("version", type=int),
    )
    flash(f"Notice {notice.our_reference} is now {notice.state_label.lower()}.", "success")
    return _back(notice_id)


@bp.route("/<int:notice_id>/response", methods=["POST"])
@require("notice.manage")
@transactional
def response(notice_id: int):
    notice = operations.get_notice(notice_id)
    form = ResponseForm()
    if form.validate_on_submit():
        on_refusal(url_for("notices.view", notice_id=notice_id), _worded)
        operations.record_response(
            notice,
            current_actor(),
            note=form.note.data or "",
            response=_upload(form.response),
            occurred_at=form.occurred_on.data,
        )
        flash("Their answer is recorded.", "success")
    return _back(notice_id)


def parse_identifier_lines(text: str) -> list[tuple[str, str]]:
    """`kind value` per line (blank lines skipped); a line without a kind is refused."""
    pairs = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        kind, _, value = line.strip().partition(" ")
        pairs.append((kind.strip(), value.strip()))
    return pairs


@bp.route("/<int:notice_id>/identifiers", methods=["POST"])
@require("notice.manage")
@transactional
def identifiers(notice_id: int):
    notice = operations.get_notice(notice_id)
    form = IdentifiersForm()
    if form.validate_on_submit():
        on_refusal(url_for("notices.view", notice_id=notice_id), _worded)
        operations.set_identifiers(
            notice,
            current_actor(),
            parse_identifier_lines(form.identifiers.data),
            note=form.note.data or "",
        )
        flash("Identifiers saved.", "success")
    return _back(notice_id)


@bp.route("/<int:notice_id>/referral", methods=["POST"])
@require("notice.manage")
@transactional
def referral(notice_id: int):
    notice = operations.get_notice(notice_id)
    form = ReferralForm()
    if form.validate_on_submit():
        on_refusal(url_for("notices.view", notice_id=notice_id), _worded)
        operations.update_referral(
            notice,
            current_actor(),
            agency_case_number=form.agency_case_number.data or "",
            assigned_agent=form.assigned_agent.data or "",
            referral_status=form.referral_status.data,
        )
        flash("Referral details saved.", "success")
    return _back(notice_id)


@bp.route("/<int:notice_id>/requests", methods=["POST"])
@require("notice.manage")
@transactional
def information_request(notice_id: int):
    notice = operations.get_notice(notice_id)
    form = InformationRequestForm()
    if not form.validate_on_submit():
        flash("Give the date it arrived and what the agency asks for.", "error")
        return _back(notice_id)
    on_refusal(url_for("notices.view", notice_id=notice_id), _worded)
    operations.record_information_request(
        notice,
        current_actor(),
        received_on=form.received_on.data,
        request=form.request.data,
        due_on=form.due_on.data,
    )
    flash("Request recorded. Answer it with a supplemental packet.", "success")
    return _back(notice_id)


@bp.route("/<int:notice_id>/requests/<int:request_id>/answer", methods=["POST"])
@require("notice.manage")
@transactional
def answer(notice_id: int, request_id: int):
    notice = operations.get_notice(notice_id)
    info = operations.get_information_request(request_id, notice)
    form = AnswerForm()
    form.packet_id.choices = [(request.form.get("packet_id", ""), "")]
    if form.validate_on_submit() and form.packet_id.data.isdigit():
        packet = packet_operations.get_packet(int(form.packet_id.data), notice.case)
        on_refusal(url_for("notices.view", notice_id=notice_id), _worded)
        operations.answer_information_request(info, current_actor(), packet)
        flash(f"Request {info.id} answered with packet {packet.id}.", "success")
    return _back(notice_id)


# ---------------------------------------------------------------- the case tab
def notices_tab(case: Case, actor: Actor) -> dict[str, Any]:
    notices = operations.notices_for_case(case)
    return {"notices": notices, "next_step": operations.next_step}
