"""Packet pages: compose and preview, the preview's review, the final build, download, mark as
sent; the case tab; each person's signatory profile."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from compliance.actor import Actor
from compliance.auth.access import current_actor, require
from compliance.auth.permissions import can
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.errors import OperationError
from compliance.notices import watch
from compliance.notices.operations import list_recipients
from compliance.packets import operations
from compliance.packets.composition import BASES, PARTIES
from compliance.packets.forms import FIELDS_SHOWN, ComposeForm, SignatoryForm
from compliance.packets.models import PACKET_TYPES
from compliance.web.audited import audited_read
from compliance.web.forms import show_refusal
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("packets", __name__, url_prefix="/cases/<ref>/packets")
signatory_bp = Blueprint("signatory", __name__, url_prefix="/signatory")


@bp.route("/new", methods=["GET", "POST"])
@require("packet.build")
@transactional
def new(ref: str):
    """Compose a packet (its type and legal basis first), then queue its preview."""
    case = get_case(ref)
    packet_type = request.args.get("type")
    base = None
    if request.args.get("from", "").isdigit():
        base = operations.get_packet(int(request.args["from"]), case)
        packet_type = base.packet_type
    stored = dict(base.request_fields) if base else {}
    if request.args.get("repeat", "").isdigit():  # a re-upload's follow-up cites the notice
        stored = watch.follow_up_fields(int(request.args["repeat"]), case)
    if packet_type not in PACKET_TYPES:
        options = operations.compose_options(case, "memo", {})
        return render_template("packets/choose.html", case=case, options=options, bases=BASES)
    basis = None
    if packet_type == "takedown":
        basis = request.args.get("basis") or stored.get("basis") or "terms"
        basis = basis if basis in BASES else "terms"
    options = operations.compose_options(case, packet_type, stored | {"exhibits": None})
    form = ComposeForm()
    form.recipient_id.choices = [("", "— one-off recipient (type it below) —")] + [
        (str(r.id), f"{r.name} ({r.kind_label}, {r.jurisdiction})")
        for r in list_recipients(active_only=True)
    ]
    form.custodian.choices = [("", "—")] + [
        (p.user.email, f"{p.full_name}, {p.title}") for p in options.custodians
    ]
    if request.method == "GET" and stored:
        form.fill(stored)
    confirmed = (
        form.recipient_in_community.data
        if request.method == "POST"
        else bool(stored.get("recipient_in_community"))
    )
    shown = {
        "amber": options.amber,
        # With counsel's confirmation, TLP:AMBER exhibits are among the defaults too.
        "eligible": [
            e.key
            for e, why in options.evidence
            if why is None or (confirmed and e.origin == "partner" and e.tlp == "amber")
        ],
        "entries": [key for key, _when, _text in options.entries],
        "parties": stored.get("parties") or {},
    }
    review = operations.review_composition(base) if base and base.status == "stored" else None
    refused = False
    if form.validate_on_submit():
        fields = form.composition(packet_type, basis, request.form, shown)
        try:
            packet = operations.request_packet(case, packet_type, current_actor(), fields=fields)
        except OperationError as error:
            show_refusal(form, error)
            refused = True
        else:
            flash(
                f"Preview {packet.id} queued; it is built in the background. Check it, then "
                "build the final packet from it.",
                "success",
            )
            return redirect(url_for("packets.view", ref=ref, packet_id=packet.id))
    chosen = set(stored.get("exhibits") or shown["eligible"])
    status = 422 if form.errors or refused else 200  # 422: nothing of a refusal is kept
    return render_template(
        "packets/compose.html",
        case=case,
        form=form,
        packet_type=packet_type,
        basis=basis,
        bases=BASES,
        fields=FIELDS_SHOWN[(packet_type, basis)],
        options=options,
        chosen=chosen,
        excluded=set(stored.get("chronology_excluded") or []),
        internal=stored.get("chronology_internal") or {},
        review=review,
        parties=PARTIES,
        base=base,
    ), status


@bp.route("/<int:packet_id>")
@require("packet.view")
def view(ref: str, packet_id: int):
    """A packet: what it is made of, the redaction review, and (for a preview) the final build."""
    case = get_case(ref)
    packet = operations.get_packet(packet_id, case)
    if not operations.may_read(packet, current_actor()):
        abort(403)
    review = operations.review_composition(packet) if packet.status == "stored" else None
    blocked: list[str] = []
    if packet.draft and packet.status == "stored" and can(current_user, "packet.build"):
        try:
            operations.check_final(packet, current_actor())
        except OperationError as error:
            details = error.details if isinstance(error.details, dict) else {}
            changes = details.pop("changes", []) if details else []
            blocked = [error.message, *changes, *(f"{k}: {v}" for k, v in details.items())]
    finals = [
        p for p in operations.packets_for_case(case, current_actor()) if p.preview_id == packet.id
    ]
    return render_template(
        "packets/packet.html",
        case=case,
        packet=packet,
        finals=finals,
        review=review,
        blocked=blocked,
        parties=PARTIES,
        bases=BASES,
        today=datetime.now(UTC).date().isoformat(),
    )


@bp.route("/<int:packet_id>/final", methods=["POST"])
@require("packet.build")
@transactional
def final(ref: str, packet_id: int):
    case = get_case(ref)
    preview = operations.get_packet(packet_id, case)
    on_refusal(url_for("packets.view", ref=ref, packet_id=packet_id))
    packet = operations.request_final(preview, current_actor())
    flash(f"Final packet {packet.id} queued, bound to preview {preview.id}.", "success")
    return redirect(url_for("packets.view", ref=ref, packet_id=packet.id))


@bp.route("/<int:packet_id>/retry", methods=["POST"])
@require("packet.build")
@transactional
def retry(ref: str, packet_id: int):
    """A failed build, requested again with the same composition."""
    case = get_case(ref)
    failed = operations.get_packet(packet_id, case)
    on_refusal(
        url_for("cases.view", ref=ref, tab="packets"), f"Packet {packet_id} was not retried:"
    )
    packet = operations.retry_packet(failed, current_actor())
    flash(f"Packet {packet_id} requested again as packet {packet.id}.", "success")
    return redirect(url_for("packets.view", ref=ref, packet_id=packet.id))


@bp.route("/<int:packet_id>/download")
@audited_read()
@require("packet.view")
@transactional  # commits after the response is built: no record of a download never sent
def download(ref: str, packet_id: int):
    case = get_case(ref)
    packet = operations.get_packet(packet_id, case)
    data = operations.download_packet(packet, current_actor(), "downloaded from the case page")
    response = send_file(
        BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=packet.filename
    )
    return response


@signatory_bp.route("/", methods=["GET", "POST"])
@login_required
@transactional
def profile():
    """Each person keeps the profile they sign packets with."""
    existing = operations.signatory_profile(current_user.id)
    form = SignatoryForm(obj=existing)
    if request.method == "GET" and existing is None:
        form.full_name.data, form.email.data = current_user.name, current_user.email
    refused = False
    if form.validate_on_submit():
        fields = {name: getattr(form, name).data for name in operations.PROFILE_FIELDS}
        try:
            operations.set_signatory_profile(current_user, current_actor(), fields)
        except OperationError as error:
            show_refusal(form, error)
            refused = True
        else:
            flash("Signatory profile saved.", "success")
            return redirect(url_for("signatory.profile"))
    status = 422 if form.errors or refused else 200  # 422: nothing of a refusal is kept
    return render_template("packets/signatory.html", form=form, existing=existing), status


def packets_tab(case: Case, actor: Actor) -> dict[str, Any]:
    packets = operations.packets_for_case(case, actor)
    return {
        "packets": packets,
        "building": any(p.status in ("queued", "rendering") for p in packets),
        "today": datetime.now(UTC).date().isoformat(),
    }
