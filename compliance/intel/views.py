"""Intel-sharing pages: the case's Intel tab, the export preview, received bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for

from compliance.actor import Actor
from compliance.auth.access import current_actor, require
from compliance.auth.permissions import can
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.intel import operations, queries
from compliance.intel.forms import (
    CollectionForm,
    ExportForm,
    FeedForm,
    ImportForm,
    PartnerTokenForm,
    PublishForm,
    PushForm,
)
from compliance.intel.stix import HASHED_TYPES
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("intel", __name__)


def _export_form(case: Case) -> ExportForm:
    """The export form with the case's choices (and, on first display, the defaults)."""
    form = ExportForm()
    subjects = queries.subject_rows(case.id)
    findings = queries.finding_rows(case.id)
    restricted = operations.restricted_finding_ids(case)
    form.subjects.choices = [
        (s.id, f"{s.type}: {s.value}" + (" (hashed)" if s.type in HASHED_TYPES else " (in clear)"))
        for s in subjects
    ]
    form.findings.choices = [
        (f.id, f"#{f.id} {f.kind} {f.observed_from:%Y-%m-%d}–{f.observed_to:%Y-%m-%d}")
        for f in findings
        if f.id not in restricted
    ]
    if form.subjects.data is None:
        form.subjects.data = [s.id for s in subjects if s.type in HASHED_TYPES]
    if form.findings.data is None:
        # Our own detectors' findings: intel we received is not ours to re-share by default.
        form.findings.data = [f.id for f in findings if f.detector_name != operations.DETECTOR_NAME]
    # For the page: the subjects grouped by type (the POST handlers only read the choices).
    form.subject_groups = queries.subject_groups(subjects)
    return form


def intel_tab(case: Case, actor: Actor) -> dict[str, Any]:
    context: dict[str, Any] = {
        "intel_matches": operations.matches_for_case(case),
        "intel_exports": operations.exports_for_case(case),
        "intel_restricted": operations.restriction_message(case, "packets or exports to others"),
    }
    if can(actor, "intel.export"):
        from compliance.intel import taxii_client, taxii_server

        form = context["export_form"] = _export_form(case)
        context["subjects_selected"] = set(form.subjects.data or ())
        context["findings_selected"] = set(form.findings.data or ())
        collections = taxii_server.list_collections()
        feeds = [f for f in taxii_client.list_feeds() if f.active]
        if collections:
            context["publish_form"] = PublishForm(formdata=None)
            context["publish_form"].collection.choices = [
                (c.taxii_id, f"{c.title} (up to {c.tlp_label})") for c in collections
            ]
        if feeds:
            context["push_form"] = PushForm(formdata=None)
            context["push_form"].feed.choices = [(f.id, f.partner) for f in feeds]
    return context


def _options(form: ExportForm) -> dict[str, Any]:
    prepared_at = None
    if form.prepared_at.data:
        try:
            prepared_at = datetime.fromisoformat(form.prepared_at.data)
        except ValueError as error:
            raise InvalidInput("the preview time is not valid; prepare the export again") from error
        if prepared_at.tzinfo is None:
            raise InvalidInput("the preview time has no zone; prepare the export again")
    return {
        "tlp": form.tlp.data,
        "recipient": form.recipient.data or "",
        "subject_ids": list(form.subjects.data or []),
        "finding_ids": list(form.findings.data or []),
        "note": form.note.data or "",
        "nonce": form.nonce.data or None,
        "prepared_at": prepared_at,
    }


def _tab(ref: str) -> Any:
    return redirect(url_for("cases.view", ref=ref, tab="intel"))


@bp.route("/cases/<ref>/intel/preview", methods=["POST"])
@require("intel.export")
def preview(ref: str):
    case = get_case(ref)
    form = _export_form(case)
    if not form.validate_on_submit():
        problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
        flash(f"Export not prepared: {problems}", "error")
        return _tab(ref)
    on_refusal(url_for("cases.view", ref=ref, tab="intel"), "Export not prepared: ", keep=())
    prepared = operations.prepare_export(case, current_actor(), **_options(form))
    db.session.rollback()  # a preview changes nothing
    confirm = ExportForm(
        formdata=None,
        recipient=prepared.recipient,
        tlp=prepared.tlp,
        subjects=prepared.subject_ids,
        findings=prepared.finding_ids,
        note=prepared.note,
        nonce=prepared.nonce,
        prepared_at=prepared.prepared_at.isoformat(),
        sha256=prepared.bundle.sha256,
    )
    return render_template(
        "intel/preview.html",
        case=case,
        prepared=prepared,
        form=confirm,
        bundle_text=prepared.bundle.data.decode("utf-8"),
    )


@bp.route("/cases/<ref>/intel/export", methods=["POST"])
@require("intel.export")
@transactional
def export(ref: str):
    case = get_case(ref)
    form = _export_form(case)
    if not form.validate_on_submit() or not form.sha256.data:
        flash("Export refused: confirm from the preview page.", "error")
        return _tab(ref)
    on_refusal(url_for("cases.view", ref=ref, tab="intel"), "Export refused: ", keep=())
    record = operations.export_case(
        case, current_actor(), expected_sha256=form.sha256.data, **_options(form)
    )
    flash(
        f"Bundle shared with {record.recipient} under {record.tlp_label} "
        f"(sha256 {record.sha256[:16]}…).",
        "success",
    )
    return _tab(ref)


@bp.route("/cases/<ref>/intel/exports/<int:export_id>/bundle.json")
@require("intel.export")
def download_export(ref: str, export_id: int):
    case = get_case(ref)
    record = operations.get_export(case, export_id)
    data = operations.stored_bundle(record.sha256)
    return Response(
        data,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{case.ref}-intel-{record.id}.json"'
        },
    )


@bp.route("/intel/")
@require("intel.import")
def index():
    from compliance.intel import taxii_client, taxii_server

    imports = operations.list_imports()
    return render_template(
        "intel/index.html",
        imports=imports,
        counts=operations.match_counts([i.id for i in imports]),
        form=ImportForm(),
        collections=taxii_server.list_collections(),
        tokens=taxii_server.list_partner_tokens(),
        feeds=taxii_client.list_feeds(),
    )


@bp.route("/intel/import", methods=["POST"])
@require("intel.import")
@transactional
def upload():
    form = ImportForm()
    if not form.validate_on_submit():
        problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
        flash(f"Bundle refused: {problems}", "error")
        return redirect(url_for("intel.index"))
    upload_file = form.file.data
    on_refusal(url_for("intel.index"), "Bundle refused: ", keep=())
    outcome = operations.import_bundle(
        upload_file.read(),
        current_actor(),
        source=form.source.data,
        filename=upload_file.filename or "",
    )
    record = outcome.intel_import
    if outcome.duplicate:
        flash(f"This bundle was already received (import #{record.id}); nothing changed.", "info")
    else:
        cases = sorted({m.case.ref for m in outcome.matches})
        flash(
            f"Bundle #{record.id} kept under {record.tlp_label}: {len(outcome.matches)} match(es)"
            + (
                f" on {', '.join(cases)}."
                if cases
                else "; it will be matched again as subjects arrive."
            ),
            "success",
        )
    return redirect(url_for("intel.index"))


# ---------------------------------------------------------------- TAXII partners (counsel)
def _partners_page(raw_token: str | None = None, status: int = 200) -> Any:
    from compliance.intel import taxii_client, taxii_server

    collections = taxii_server.list_collections()
    token_form = PartnerTokenForm(formdata=None)
    token_form.collection.choices = [(c.taxii_id, c.title) for c in collections]
    page = render_template(
        "intel/partners.html",
        collections=collections,
        tokens=taxii_server.list_partner_tokens(),
        feeds=taxii_client.list_feeds(),
        collection_form=CollectionForm(formdata=None),
        token_form=token_form,
        feed_form=FeedForm(formdata=None),
        raw_token=raw_token,
    )
    return page, status


def _problems(form: Any) -> str:
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())


@bp.route("/intel/partners")
@require("intel.partners")
def partners():
    return _partners_page()


@bp.route("/intel/partners/collections", methods=["POST"])
@require("intel.partners")
@transactional
def create_collection():
    from compliance.intel import taxii_server

    form = CollectionForm()
    if not form.validate_on_submit():
        flash(f"Collection not created: {_problems(form)}", "error")
        return redirect(url_for("intel.partners"))
    on_refusal(url_for("intel.partners"), "Collection not created: ", keep=())
    collection = taxii_server.create_collection(
        current_actor(),
        title=form.title.data,
        community=form.community.data,
        max_tlp=form.max_tlp.data,
        description=form.description.data or "",
    )
    flash(f"Collection {collection.taxii_id} created ({collection.tlp_label}).", "success")
    return redirect(url_for("intel.partners"))


@bp.route("/intel/partners/tokens", methods=["POST"])
@require("intel.partners")
@transactional
def create_partner_token():
    from compliance.intel import taxii_server

    form = PartnerTokenForm()
    form.collection.choices = [(c.taxii_id, c.title) for c in taxii_server.list_collections()]
    if not form.validate_on_submit():
        flash(f"Token not issued: {_problems(form)}", "error")
        return redirect(url_for("intel.partners"))
    on_refusal(url_for("intel.partners"), "Token not issued: ", keep=())
    _token, raw = taxii_server.create_partner_token(
        current_actor(),
        partner=form.partner.data,
        collection=taxii_server.find_collection(form.collection.data),
    )
    return _partners_page(raw_token=raw)  # shown once, never stored


@bp.route("/intel/partners/tokens/<int:token_id>/revoke", methods=["POST"])
@require("intel.partners")
@transactional
def revoke_partner_token(token_id: int):
    from compliance.intel import taxii_server

    token = taxii_server.revoke_partner_token(current_actor(), token_id)
    flash(f"{token.partner}'s token {token.prefix}… revoked.", "success")
    return redirect(url_for("intel.partners"))


@bp.route("/intel/partners/feeds", methods=["POST"])
@require("intel.partners")
@transactional
def add_feed():
    from compliance.intel import taxii_client

    form = FeedForm()
    if not form.validate_on_submit():
        flash(f"Partner server not registered: {_problems(form)}", "error")
        return redirect(url_for("intel.partners"))
    on_refusal(url_for("intel.partners"), "Partner server not registered: ", keep=())
    feed = taxii_client.add_feed(
        current_actor(),
        partner=form.partner.data,
        api_root_url=form.url.data,
        collection=form.collection.data,
        username=form.username.data or "",
        secret=form.secret.data,
    )
    flash(f"Feed {feed.id} from {feed.partner} registered; the scheduler polls it.", "success")
    return redirect(url_for("intel.partners"))


@bp.route("/intel/partners/feeds/<int:feed_id>/toggle", methods=["POST"])
@require("intel.partners")
@transactional
def toggle_feed(feed_id: int):
    from compliance.intel import taxii_client

    feed = taxii_client.get_feed(feed_id)
    taxii_client.set_feed_active(current_actor(), feed, not feed.active)
    flash(f"Feed {feed.id} {'enabled' if feed.active else 'disabled'}.", "success")
    return redirect(url_for("intel.partners"))


@bp.route("/cases/<ref>/intel/exports/<int:export_id>/publish", methods=["POST"])
@require("intel.export")
@transactional
def publish(ref: str, export_id: int):
    from compliance.intel import taxii_server

    case = get_case(ref)
    form = PublishForm()
    form.collection.choices = [(c.taxii_id, c.title) for c in taxii_server.list_collections()]
    if not form.validate_on_submit():
        flash(f"Not published: {_problems(form)}", "error")
        return _tab(ref)
    on_refusal(url_for("cases.view", ref=ref, tab="intel"), "Not published: ", keep=())
    export = operations.get_export(case, export_id)
    collection = taxii_server.find_collection(form.collection.data)
    taxii_server.publish_export(current_actor(), export, collection)
    flash(f"Export {export.id} is served in '{collection.title}'.", "success")
    return _tab(ref)


@bp.route("/cases/<ref>/intel/exports/<int:export_id>/push", methods=["POST"])
@require("intel.export")
@transactional
def push(ref: str, export_id: int):
    from compliance.intel import taxii_client

    case = get_case(ref)
    form = PushForm()
    form.feed.choices = [(f.id, f.partner) for f in taxii_client.list_feeds()]
    if not form.validate_on_submit():
        flash(f"Not pushed: {_problems(form)}", "error")
        return _tab(ref)
    on_refusal(url_for("cases.view", ref=ref, tab="intel"), "Not pushed: ", keep=())
    export = operations.get_export(case, export_id)
    feed = taxii_client.get_feed(form.feed.data)
    result = taxii_client.push_export(current_actor(), export, feed)
    flash(
        f"Export {export.id} sent to {feed.partner}: {result['status']}, "
        f"{result['success_count']} object(s) accepted.",
        "success",
    )
    return _tab(ref)
