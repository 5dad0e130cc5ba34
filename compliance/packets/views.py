"""Packet pages: request a build (queued for the worker), download, mark as sent; case tab."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for

from compliance.auth.actor import Actor
from compliance.auth.permissions import current_actor, require
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.cases.tabs import register_tab
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.packets import operations
from compliance.packets.forms import MarkSentForm, PacketRequestForm
from compliance.web.audited import audited_read

bp = Blueprint("packets", __name__, url_prefix="/cases/<ref>/packets")


@bp.route("/new", methods=["GET", "POST"])
@require("packet.build")
def new(ref: str):
    case = get_case(ref)
    form = PacketRequestForm()
    if request.method == "GET":
        form.packet_type.data = request.args.get("type") or (case.chosen_actions or ["memo"])[0]
        form.draft.data = case.state not in operations.FINAL_STATES
    if form.validate_on_submit():
        try:
            packet = operations.request_packet(
                case,
                form.packet_type.data,
                current_actor(),
                draft=form.draft.data,
                fields=form.request_fields(),
            )
        except OperationError as error:
            db.session.rollback()
            if error.status == 403:
                raise
            for name, message in (error.details or {}).items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [*field.errors, message]
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(f"Packet {packet.id} queued; it is built in the background.", "success")
            return redirect(url_for("cases.view", ref=ref, tab="packets"))
    status = 422 if form.errors else 200
    return render_template("packets/request_form.html", case=case, form=form), status


@bp.route("/<int:packet_id>/download")
@audited_read()
@require("packet.view")
def download(ref: str, packet_id: int):
    case = get_case(ref)
    packet = operations.get_packet(packet_id, case)
    data = operations.download_packet(packet, current_actor(), "downloaded from the case page")
    response = send_file(
        BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=packet.filename
    )
    db.session.commit()  # after the response is built: no record of a download never sent
    return response


@bp.route("/<int:packet_id>/sent", methods=["POST"])
@require("packet.build")
def mark_sent(ref: str, packet_id: int):
    case = get_case(ref)
    packet = operations.get_packet(packet_id, case)
    form = MarkSentForm()
    if not form.validate_on_submit():
        flash("Say who received the packet, how, and on which date.", "error")
        return redirect(url_for("cases.view", ref=ref, tab="packets"))
    sent_on = datetime.combine(form.sent_on.data, datetime.min.time(), tzinfo=UTC)
    try:
        operations.mark_sent(
            packet,
            current_actor(),
            recipient=form.recipient.data,
            channel=form.channel.data,
            sent_on=sent_on,
        )
    except OperationError as error:
        db.session.rollback()
        if error.status == 403:
            raise
        detail = "; ".join(f"{k}: {v}" for k, v in (error.details or {}).items())
        flash(error.message + (f" ({detail})" if detail else ""), "error")
    else:
        db.session.commit()
        flash(f"Packet {packet.id} recorded as sent to {packet.sent_to}.", "success")
    return redirect(url_for("cases.view", ref=ref, tab="packets"))


def _packets_tab(case: Case, actor: Actor) -> dict[str, Any]:
    packets = operations.packets_for_case(case, actor)
    return {
        "packets": packets,
        "building": any(p.status in ("queued", "rendering") for p in packets),
        "sent_form": MarkSentForm(),
        "today": datetime.now(UTC).date().isoformat(),
    }


register_tab("packets", "Packets", 60, _packets_tab, permission="packet.view")
