"""Intel-sharing pages: the case's Intel tab, the export preview, received bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for

from compliance.auth.actor import Actor
from compliance.auth.permissions import can, current_actor, require
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.cases.tabs import register_tab
from compliance.errors import InvalidInput, OperationError
from compliance.extensions import db
from compliance.intel import operations
from compliance.intel.forms import ExportForm, ImportForm
from compliance.intel.stix import HASHED_TYPES

bp = Blueprint("intel", __name__)


def _export_form(case: Case) -> ExportForm:
    """The export form with the case's choices (and, on first display, the defaults)."""
    form = ExportForm()
    subjects = operations.case_subject_rows(case)
    restricted = operations.restricted_finding_ids(case)
    form.subjects.choices = [
        (s.id, f"{s.type}: {s.value}" + (" (hashed)" if s.type in HASHED_TYPES else " (in clear)"))
        for s in subjects
    ]
    form.findings.choices = [
        (f.id, f"#{f.id} {f.kind} {f.observed_from:%Y-%m-%d}–{f.observed_to:%Y-%m-%d}")
        for f in operations.case_findings(case)
        if f.id not in restricted
    ]
    if form.subjects.data is None:
        form.subjects.data = [s.id for s in subjects if s.type in HASHED_TYPES]
    if form.findings.data is None:
        form.findings.data = operations.default_finding_ids(case)
    return form


def intel_tab(case: Case, actor: Actor) -> dict[str, Any]:
    context: dict[str, Any] = {
        "intel_matches": operations.matches_for_case(case),
        "intel_exports": operations.exports_for_case(case),
        "intel_restricted": operations.restriction_message(case, "packets or exports to others"),
    }
    if can(actor, "intel.export"):
        context["export_form"] = _export_form(case)
    return context


register_tab("intel", "Intel", 65, intel_tab)


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
    try:
        prepared = operations.prepare_export(case, current_actor(), **_options(form))
    except OperationError as error:
        db.session.rollback()
        flash(f"Export not prepared: {error.message}", "error")
        return _tab(ref)
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
def export(ref: str):
    case = get_case(ref)
    form = _export_form(case)
    if not form.validate_on_submit() or not form.sha256.data:
        flash("Export refused: confirm from the preview page.", "error")
        return _tab(ref)
    try:
        record = operations.export_case(
            case, current_actor(), expected_sha256=form.sha256.data, **_options(form)
        )
    except OperationError as error:
        db.session.rollback()
        flash(f"Export refused: {error.message}", "error")
        return _tab(ref)
    db.session.commit()
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
def upload():
    form = ImportForm()
    if not form.validate_on_submit():
        problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
        flash(f"Bundle refused: {problems}", "error")
        return redirect(url_for("intel.index"))
    upload_file = form.file.data
    try:
        outcome = operations.import_bundle(
            upload_file.read(),
            current_actor(),
            source=form.source.data,
            filename=upload_file.filename or "",
        )
    except OperationError as error:
        db.session.rollback()
        flash(f"Bundle refused: {error.message}", "error")
        return redirect(url_for("intel.index"))
    db.session.commit()
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
