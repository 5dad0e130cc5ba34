"""Policy library pages and the case page's Clauses tab (citing and withdrawing clauses)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from compliance.actor import Actor
from compliance.auth.access import current_actor, require
from compliance.auth.permissions import can
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.policies import operations
from compliance.policies.forms import CitationForm, SyncForm, WithdrawCitationForm
from compliance.policies.models import PolicyClause, PolicyVersion
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("policies", __name__)


@bp.route("/policies/")
@require("policy.view")
def index():
    documents = operations.list_documents()
    return render_template(
        "policies/index.html",
        documents=documents,
        warnings={d.key: operations.date_warnings(d) for d in documents},
        sync_form=SyncForm(),
    )


@bp.route("/policies/sync", methods=["POST"])
@require("policy.sync")
@transactional
def sync():
    if not SyncForm().validate_on_submit():
        abort(400)
    on_refusal(url_for("policies.index"), _sync_refused, keep=())
    report = operations.sync_policies(current_actor(), operations.policies_dir(current_app.config))
    flash(f"Policies synced: {report.summary()}.", "success")
    for warning in report.warnings:
        flash(f"Warning: {warning}", "info")
    return redirect(url_for("policies.index"))


def _sync_refused(error: OperationError) -> list[str]:
    """The refusal, then one line per file and its problem."""
    problems = [f"{path}: {problem}" for path, problem in (error.details or {}).items()]
    return [error.message, *problems]


@bp.route("/policies/<key>/")
@require("policy.view")
def document(key: str):
    found = operations.get_document(key)
    return render_template(
        "policies/document.html",
        document=found,
        warnings=operations.date_warnings(found),
    )


@bp.route("/policies/<key>/diff")
@require("policy.view")
def diff(key: str):
    found = operations.get_document(key)
    if len(found.versions) < 2:
        abort(404)
    labels = [v.version for v in found.versions]
    old_label = request.args.get("from") or labels[-2]
    new_label = request.args.get("to") or labels[-1]
    old = operations.get_version(key, old_label)
    new = operations.get_version(key, new_label)
    return render_template(
        "policies/diff.html",
        document=found,
        old=old,
        new=new,
        changes=operations.version_diff(old, new),
        unified=operations.unified_text_diff(old, new),
    )


@bp.route("/policies/<key>/<version>/")
@require("policy.view")
def version(key: str, version: str):
    found = operations.get_version(key, version)
    return render_template("policies/version.html", version=found, document=found.document)


@bp.route("/policies/<key>/<version>/<number>")
@require("policy.view")
def clause(key: str, version: str, number: str):
    found = operations.find_clause(f"{key}@{version}#{number}")
    document = found.version.document
    others = [(v, v.clause(number)) for v in document.versions]
    previous_version = document.previous_version(found.version)
    previous = previous_version.clause(number) if previous_version else None
    return render_template(
        "policies/clause.html",
        clause=found,
        document=document,
        others=others,
        previous=previous,
        change=operations.clause_change(number, previous, found) if previous else None,
        citing=operations.cases_citing(found) if can(current_user, "case.view") else None,
    )


@bp.route("/cases/<ref>/clauses", methods=["POST"])
@require("clause.link")
@transactional
def cite(ref: str):
    case = get_case(ref)
    form = CitationForm()
    _fill_choices(form, case)
    if not form.validate_on_submit():
        flash("Choose a clause and say how the conduct breaks it.", "error")
        return redirect(url_for("cases.view", ref=ref, tab="clauses"))
    chosen = db.session.get(PolicyClause, form.clause_id.data)
    if chosen is None:
        abort(404)
    on_refusal(url_for("cases.view", ref=ref, tab="clauses"))
    citation = operations.cite_clause(
        case,
        current_actor(),
        chosen,
        form.note.data,
        evidence_item_id=form.evidence_item_id.data or None,
        override_reason=form.override_reason.data if form.override.data else None,
    )
    flash(f"Cited {citation.citation()}.", "success")
    return redirect(url_for("cases.view", ref=ref, tab="clauses"))


@bp.route("/cases/<ref>/clauses/<int:citation_id>/withdraw", methods=["POST"])
@require("clause.link")
@transactional
def withdraw(ref: str, citation_id: int):
    case = get_case(ref)
    citation = operations.get_citation(case, citation_id)
    form = WithdrawCitationForm()
    if not form.validate_on_submit():
        flash("Say why the citation is withdrawn.", "error")
        return redirect(url_for("cases.view", ref=ref, tab="clauses"))
    on_refusal(url_for("cases.view", ref=ref, tab="clauses"))
    operations.withdraw_citation(case, current_actor(), citation, form.reason.data)
    flash(f"Withdrew {citation.citation()}; it stays on record.", "success")
    return redirect(url_for("cases.view", ref=ref, tab="clauses"))


def _clause_options(in_force: list[PolicyVersion]) -> dict[str, list]:
    """Clause choices grouped by version: in-force versions first, then the rest."""
    in_force_ids = {v.id for v in in_force}
    groups: dict[str, list] = {}
    later: dict[str, list] = {}
    for found in operations.list_documents():
        for version in reversed(found.versions):
            options = [(c.id, f"§{c.number} {c.heading}") for c in version.clauses]
            start = version.effective_from.isoformat()
            if version.id in in_force_ids:
                groups[f"{version.label} (effective {start}) — in force"] = options
            else:
                later[f"{version.label} (effective {start}) — not in force: override"] = options
    return groups | later


def _fill_choices(
    form: CitationForm, case: Case
) -> tuple[operations.Window, list[operations.DocumentInForce]]:
    window, documents = operations.clauses_in_force(case)
    in_force = [v for d in documents for v in d.versions]
    form.clause_id.choices = _clause_options(in_force)
    form.evidence_item_id.choices = [(0, "— the case as a whole —")] + operations.evidence_choices(
        case
    )
    return window, documents


def clauses_tab(case: Case, actor: Actor) -> dict[str, Any]:
    form = CitationForm()
    window, documents = _fill_choices(form, case)
    citations = operations.citations_for_case(case, include_removed=True)
    return {
        "window": window,
        "documents": documents,
        "citations": [c for c in citations if c.active],
        "withdrawn": [c for c in citations if not c.active],
        "citation_form": form,
        "withdraw_form": WithdrawCitationForm(),
    }
