"""Case pages: list, create, the case file with its tabs, edits, workflow, notes, holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from compliance.auth.access import current_actor, require
from compliance.auth.models import User
from compliance.auth.people import display_names
from compliance.auth.permissions import can
from compliance.cache import ProcessCache
from compliance.cases import operations, queries
from compliance.cases.approval import approval_drift
from compliance.cases.forms import CaseForm, HoldForm, NoteForm, TransitionForm
from compliance.cases.models import SEVERITIES, STATES, Case, CaseNote
from compliance.cases.tabs import TABS, ordered_tabs
from compliance.cases.workflow import TransitionRequest, options_for
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.web import format_when
from compliance.web.audited import audited_read
from compliance.web.forms import show_refusal
from compliance.web.paging import int_arg, page_arg
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("cases", __name__, url_prefix="/cases")
PER_PAGE = queries.PER_PAGE
COUNT_CAP = queries.COUNT_CAP


def _owner_choices() -> list[tuple[int, str]]:
    # Three columns, not User rows: the team grows with the caseload (hundreds of people at
    # 100,000 cases) and every case list page offers them all as a filter.
    users = db.session.execute(
        select(User.id, User.name, User.role)
        .where(User.role.in_(("analyst", "counsel")), User.active)
        .order_by(User.name)
    )
    return [(0, "— unassigned —")] + [(id_, f"{name} ({role})") for id_, name, role in users]


# The owner filter offers every active analyst and counsel on every case list page: hundreds
# of people at 100,000 cases, more work than the page's 25 cases. A process keeps the options
# for a minute per database, and any user this process writes drops them at once. The case
# forms read the people fresh (a choice they validate must exist).
_owner_options_kept = ProcessCache(60.0, User)


def _owner_options(selected: int | None) -> Markup:
    """The owner filter's <option>s, the selected person marked."""
    html = _owner_options_kept.get(
        "owner_options",
        lambda: "".join(
            f'<option value="{id_}">{escape(label)}</option>' for id_, label in _owner_choices()[1:]
        ),
    )
    if selected:
        mark = f'<option value="{int(selected)}"'
        html = html.replace(mark + ">", mark + " selected>", 1)
    return Markup(html)  # noqa: S704 - ids are integers, labels escaped above


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _form_fields(form: CaseForm) -> dict[str, Any]:
    return {
        "title": form.title.data,
        "summary": form.summary.data or "",
        "severity": form.severity.data,
        "confidence": float(form.confidence.data) if form.confidence.data is not None else None,
        "suspected_actor": form.suspected_actor.data or None,
        "jurisdiction": form.jurisdiction.data or None,
        "owner_id": form.owner_id.data or None,
        "incident_start": _aware(form.incident_start.data),
        "incident_end": _aware(form.incident_end.data),
        "estimated_queries": form.estimated_queries.data,
        "targeted_domains": list(form.targeted_domains.data or []),
    }


@bp.route("/")
@require("case.view")
def index():
    q = request.args.get("q", "").strip()[:200]
    sort = request.args.get("sort")
    filters = {
        "q": q,
        "state": request.args.get("state") or None,
        "severity": request.args.get("severity") or None,
        "owner": int_arg("owner"),
        "overdue": request.args.get("overdue") == "1",
        "hold": request.args.get("hold") == "1",
        # The order the list is really in, so the Sort box shows it (after a search too).
        "sort": sort if sort in queries.SORTS else queries.default_sort(q),
    }
    listing = queries.case_list(filters, page_arg(), can(current_user, "note.privileged"))
    return render_template(
        "cases/list.html",
        cases=listing.cases,
        snippets=listing.snippets,
        filters=filters,
        page=listing.page,
        total=listing.total,
        more=listing.more,
        pages=listing.pages,
        has_next=listing.has_next,
        states=STATES,
        severities=SEVERITIES,
        owner_options=_owner_options(filters["owner"]),
        sorts=[(key, label) for key, (label, _order) in queries.SORTS.items()],
    )


@bp.route("/new", methods=["GET", "POST"])
@require("case.create")
@transactional
def create():
    form = CaseForm()
    form.owner_id.choices = _owner_choices()
    if form.validate_on_submit():
        try:
            case = operations.create_case(
                current_actor(),
                ref_prefix=current_app.config["CASE_REF_PREFIX"],
                **_form_fields(form),
            )
        except OperationError as error:
            show_refusal(form, error)
        else:
            flash(f"Case {case.ref} opened.", "success")
            return redirect(url_for("cases.view", ref=case.ref))
    return render_template("cases/form.html", form=form, case=None), 200 if not form.errors else 422


def _reads_notes() -> bool:
    """The notes tab records who read privileged notes (see record_privileged_view)."""
    return request.args.get("tab") == "notes"


@bp.route("/<ref>")
@audited_read(when=_reads_notes)
@require("case.view")
@transactional  # a tab may record a read that matters (privileged notes viewed)
def view(ref: str):
    case = operations.get_case(ref)
    actor = current_actor()
    tab_key = request.args.get("tab", "overview")
    tab = TABS.get(tab_key)
    if tab is None or not can(current_user, tab.permission):
        abort(404)
    context = tab.context(case, actor)
    return render_template(
        "cases/view.html",
        case=case,
        actor=actor,
        tabs=[t for t in ordered_tabs() if can(current_user, t.permission)],
        tab=tab,
        options=options_for(case, actor),
        approval_changes=approval_drift(case) if case.state == "legal_review" else [],
        **context,
    )


@bp.route("/<ref>/edit", methods=["GET", "POST"])
@require("case.edit")
@transactional
def edit(ref: str):
    case = operations.get_case(ref)
    form = CaseForm(obj=case)
    form.owner_id.choices = _owner_choices()
    if request.method == "GET":
        form.version.data = case.version
        form.owner_id.data = case.owner_id or 0
    if form.validate_on_submit():
        try:
            operations.update_case(
                case,
                current_actor(),
                _form_fields(form),
                expected_version=int(form.version.data or 0) or None,
            )
        except OperationError as error:
            if error.status == 409:
                raise
            show_refusal(form, error)
        else:
            flash("Changes saved.", "success")
            return redirect(url_for("cases.view", ref=case.ref))
    return render_template("cases/form.html", form=form, case=case), 200 if not form.errors else 422


@bp.route("/<ref>/transition", methods=["POST"])
@require("case.view")
@transactional
def transition(ref: str):
    case = operations.get_case(ref)
    form = TransitionForm()
    if not form.validate_on_submit():
        abort(400)
    request_data = TransitionRequest(
        reason=form.reason.data, actions=tuple(form.actions.data or ()), outcome=form.outcome.data
    )
    on_refusal(url_for("cases.view", ref=ref))
    step = operations.transition_case(
        case,
        form.target.data,
        current_actor(),
        request_data,
        expected_version=int(form.version.data or 0) or None,
    )
    flash(f"{case.ref} moved from {step.from_state} to {step.to_state}.", "success")
    return redirect(url_for("cases.view", ref=ref))


@bp.route("/<ref>/notes", methods=["POST"])
@require("note.add")
@transactional
def add_note(ref: str):
    case = operations.get_case(ref)
    form = NoteForm()
    if not form.validate_on_submit():
        flash("The note is empty or too long.", "error")
        return redirect(url_for("cases.view", ref=ref, tab="notes"))
    operations.add_note(case, current_actor(), form.body.data, privileged=form.privileged.data)
    flash("Note added.", "success")
    return redirect(url_for("cases.view", ref=ref, tab="notes"))


@bp.route("/<ref>/notes/<int:note_id>", methods=["POST"])
@require("note.add")
@transactional
def edit_note(ref: str, note_id: int):
    case = operations.get_case(ref)
    note = db.session.get(CaseNote, note_id)
    if note is None or note.case_id != case.id:
        abort(404)
    if note.privileged and not can(current_user, "note.privileged"):
        abort(404)  # its existence is not disclosed either
    form = NoteForm()
    if not form.validate_on_submit():
        flash("The note is empty or too long.", "error")
    else:
        operations.edit_note(
            note, current_actor(), form.body.data, request.form.get("version", type=int)
        )
        flash("Note updated; the earlier text is kept in its history.", "success")
    return redirect(url_for("cases.view", ref=ref, tab="notes"))


@bp.route("/<ref>/hold", methods=["POST"])
@require("hold.manage")
@transactional
def hold(ref: str):
    case = operations.get_case(ref)
    form = HoldForm()
    if not form.validate_on_submit():
        flash("A legal hold needs a reason.", "error")
        return redirect(url_for("cases.view", ref=ref))
    if form.action.data == "release":
        operations.release_hold(case, current_actor(), form.reason.data)
    else:
        operations.place_hold(case, current_actor(), form.reason.data)
    flash(f"Legal hold {form.action.data}d.", "success")
    return redirect(url_for("cases.view", ref=ref))


def overview_tab(case: Case, actor: Any) -> dict[str, Any]:
    return {"hold_form": HoldForm(action="release" if case.legal_hold else "place")}


def notes_tab(case: Case, actor: Any) -> dict[str, Any]:
    # Each note's earlier versions in one query (the template reads `note.revisions` per note),
    # handed to the relationship so `visible_notes` reads these very objects.
    loaded = db.session.scalars(
        select(CaseNote)
        .where(CaseNote.case_id == case.id)
        .order_by(CaseNote.id)
        .options(selectinload(CaseNote.revisions))
    ).all()
    set_committed_value(case, "notes", list(loaded))
    notes = operations.visible_notes(case, actor)
    # Authors and editors by name, looked up together (always one query: a flat page cost).
    display_names(
        [n.author for n in notes] + [r.edited_by for n in notes for r in n.revisions], query=True
    )
    operations.record_privileged_view(case, actor, notes)
    return {"notes": notes, "note_form": NoteForm()}


@dataclass(frozen=True)
class Moment:
    """One entry of the case timeline."""

    when: datetime
    kind: str  # finding, transition, review, packet
    title: str
    detail: str = ""


def timeline_tab(case: Case, actor: Any) -> dict[str, Any]:
    """Findings, workflow steps, reviews and packets on one time axis, newest last."""
    from compliance.evidence.models import Finding
    from compliance.packets.models import Packet
    from compliance.packets.timeline import Mark, Span, timeline_svg
    from compliance.reviews.models import Review

    findings = db.session.scalars(
        select(Finding).where(Finding.case_id == case.id).order_by(Finding.observed_from)
    ).all()
    reviews = db.session.scalars(
        select(Review).where(Review.case_id == case.id).order_by(Review.reviewed_at)
    ).all()
    packets = db.session.scalars(
        select(Packet).where(Packet.case_id == case.id).order_by(Packet.requested_at)
    ).all()
    moments = [Moment(case.created_at, "opened", "Case opened", case.created_by)]
    moments += [
        Moment(
            f.observed_to,
            "finding",
            f"{f.kind.replace('_', ' ')} finding by {f.detector_name} {f.detector_version}",
            f"observed {format_when(f.observed_from)} → {format_when(f.observed_to)}",
        )
        for f in findings
    ]
    moments += [
        Moment(t.occurred_at, "transition", f"{t.from_state} → {t.to_state}", t.reason or "")
        for t in case.transitions
    ]
    moments += [
        Moment(r.reviewed_at, "review", f"Review: {r.outcome.replace('_', ' ')}", r.reviewer_name)
        for r in reviews
    ]
    for p in packets:
        kind = f"{'draft ' if p.draft else ''}{p.packet_type} packet"
        moments.append(Moment(p.requested_at, "packet", f"{kind} requested", p.status))
        if p.sent_on is not None:
            moments.append(Moment(p.sent_on, "packet", f"{kind} sent", p.sent_to or ""))
    moments.sort(key=lambda m: m.when)
    spans = [Span(f"{f.detector_name}", f.observed_from, f.observed_to) for f in findings]
    marks = [Mark(m.when, m.title) for m in moments if m.kind in ("transition", "packet")]
    chart = timeline_svg(spans, marks, f"Timeline of {case.ref}") if spans or marks else ""
    return {"moments": moments, "chart": chart}
