"""Evidence pages: the case's Evidence tab, uploads, an item's custody, downloads, the inbox."""

from __future__ import annotations

import contextlib
import json
from io import BytesIO
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from compliance.auth.access import current_actor, require
from compliance.cases.models import Case
from compliance.cases.operations import get_case
from compliance.errors import InvalidInput
from compliance.evidence import operations, queries
from compliance.evidence.forms import DownloadForm, DuplicateForm, UploadForm
from compliance.evidence.models import CustodyEvent, EvidenceItem, Finding
from compliance.evidence.schema import TooManyFindings, parse_batch
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.web.audited import audited_read, download_name
from compliance.web.paging import page_arg
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("evidence", __name__)
INBOX_LIMIT = 100
PREVIEW_BYTES = 64 * 1024
TAB_PAGE = 25  # findings (and files) per page of a case's Evidence tab


# What the Evidence tab shows of each finding and file: rows of these columns, not whole
# mapped objects (building 25 + 25 objects with their JSON cost more than the page's SQL).
_FINDING_COLUMNS = (
    Finding.id,
    Finding.kind,
    Finding.severity,
    Finding.confidence,
    Finding.detector_name,
    Finding.detector_version,
    Finding.external_id,
    Finding.observed_from,
    Finding.observed_to,
    Finding.ingested_at,
    Finding.ingested_by,
    Finding.summary,
    Finding.metrics,
    Finding.subjects,
)
_ITEM_COLUMNS = (
    EvidenceItem.id,
    EvidenceItem.name,
    EvidenceItem.description,
    EvidenceItem.source,
    EvidenceItem.collected_at,
    EvidenceItem.sha256,
    EvidenceItem.size_bytes,
    EvidenceItem.supersedes_id,
    EvidenceItem.supersede_reason,
)
_CUSTODY_COLUMNS = (
    CustodyEvent.item_id,
    CustodyEvent.action,
    CustodyEvent.occurred_at,
    CustodyEvent.actor,
    CustodyEvent.actor_name,
    CustodyEvent.actor_role,
    CustodyEvent.purpose,
)


_CORRECTION = aliased(EvidenceItem)

# The tab's statements are built once and bound per request: on this page, building and
# keying a statement cost more than running it. They run on the session's connection as
# Core statements of columns (rows, not mapped objects).
_CASE_ID, _OFFSET, _IDS = (
    bindparam("case_id"),
    bindparam("offset"),
    bindparam("ids", expanding=True),
)
_PAGE_FINDINGS = (
    select(Finding.id, Finding.content_sha256)
    .where(Finding.case_id == _CASE_ID)
    .order_by(Finding.observed_to.desc(), Finding.id.desc())
    .limit(TAB_PAGE)
    .offset(_OFFSET)
)
_PAGE_ITEMS = (
    # supersedes_id is unique: at most one correction per item, so one row per item. A join,
    # not EXISTS: PostgreSQL answered EXISTS by hashing every correction in the store.
    select(*_ITEM_COLUMNS, _CORRECTION.id.is_not(None).label("superseded"))
    .outerjoin(_CORRECTION, _CORRECTION.supersedes_id == EvidenceItem.id)
    .where(EvidenceItem.case_id == _CASE_ID)
    .order_by(EvidenceItem.id)
    .limit(TAB_PAGE)
    .offset(_OFFSET)
)
_CUSTODY = (
    select(*_CUSTODY_COLUMNS)
    .where(CustodyEvent.item_id.in_(_IDS))
    .order_by(CustodyEvent.item_id, CustodyEvent.id)
)
_TOTALS = select(
    select(func.count()).where(Finding.case_id == _CASE_ID).scalar_subquery().label("findings"),
    select(func.count()).where(EvidenceItem.case_id == _CASE_ID).scalar_subquery().label("items"),
)


def evidence_tab(case: Case, actor: Any) -> dict[str, Any]:
    # A campaign case gathers hundreds of findings: the tab shows them a page at a time
    # (newest first), with the files of the same page, so its cost does not grow with them.
    page = page_arg()
    bound = {"case_id": case.id, "offset": (page - 1) * TAB_PAGE}
    run = db.session.connection().execute
    page_findings = run(_PAGE_FINDINGS, bound).all()
    items = run(_PAGE_ITEMS, bound).all()
    custody: dict[int, list[Any]] = {}
    if items:
        for event in run(_CUSTODY, {"ids": [item.id for item in items]}):
            custody.setdefault(event.item_id, []).append(event)
    totals = run(_TOTALS, bound).one()
    return {
        "finding_articles": _finding_articles(page_findings, case.ref),
        "items": items,
        "custody": custody,
        "findings_total": totals.findings,
        "items_total": totals.items,
        "evidence_page": page,
        "evidence_pages": max(-(-max(totals.findings, totals.items) // TAB_PAGE), 1),
        "subjects": operations.case_subjects(case),
        "flags": operations.duplicate_flags(case),
        "upload_form": UploadForm(),
    }


ARTICLES_KEPT = 2000  # per process: about 2 KB each


def _finding_articles(page: list[Any], case_ref: str) -> list[Markup]:
    """The HTML of each finding on the page, rendered once per process and then kept.

    A finding is write-once evidence, and so are the files preserved with it, so what the tab
    shows of it never changes; only its case's ref (a merge) does, and that is in the key
    with the finding's content hash and its files. Rendering 25 findings was a third of the
    tab's time; a kept one is not even read from the database again.
    """
    kept: dict[tuple, Markup] = current_app.extensions.setdefault("finding_articles", {})
    keys = [(case_ref, row.id, row.content_sha256) for row in page]
    missing = [key[1] for key in keys if key not in kept]
    if missing:
        if len(kept) + len(missing) > ARTICLES_KEPT:
            kept.clear()  # a crude bound: the pages read next are rendered again
        files: dict[int, list[Any]] = {}
        for item in db.session.execute(
            select(
                EvidenceItem.id, EvidenceItem.finding_id, EvidenceItem.name, EvidenceItem.size_bytes
            )
            .where(EvidenceItem.finding_id.in_(missing))
            .order_by(EvidenceItem.id)
        ):
            files.setdefault(item.finding_id, []).append(item)
        item_url = url_for("evidence.item", ref=case_ref, item_id=0)[:-1]
        for finding in db.session.execute(
            select(*_FINDING_COLUMNS, Finding.content_sha256).where(Finding.id.in_(missing))
        ):
            # S704: the output of a template, escaped by Jinja as it rendered.
            kept[(case_ref, finding.id, finding.content_sha256)] = Markup(  # noqa: S704
                render_template(
                    "cases/tabs/_finding.html",
                    f=finding,
                    own=files.get(finding.id, []),
                    item_url=item_url,
                )
            )
    return [kept[key] for key in keys]


def _tab(ref: str) -> Any:
    return redirect(url_for("cases.view", ref=ref, tab="evidence"))


@bp.route("/cases/<ref>/evidence", methods=["POST"])
@require("evidence.add")
@transactional
def upload(ref: str):
    case = get_case(ref)
    form = UploadForm()
    if not form.validate_on_submit():
        problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
        flash(f"Upload refused: {problems}", "error")
        return _tab(ref)
    upload_file = form.file.data
    data = upload_file.read()
    actor = current_actor()
    on_refusal(
        url_for("cases.view", ref=ref, tab="evidence"),
        lambda error: f"Upload refused: {error.message}{_details(error.details)}",
    )
    if form.is_finding.data:
        try:
            batch = parse_batch(data, current_app.config["MAX_BATCH_ITEMS"])
        except TooManyFindings as error:
            raise InvalidInput(f"the finding file is refused: {error}") from None
        except (RecursionError, ValueError) as error:  # bad JSON/UTF-8, absurd nesting
            raise InvalidInput(f"the finding file is not JSON ({error})") from error
        outcomes = operations.ingest_findings(batch, actor, channel="upload", into_case=case)
        repeats = sum(o.status == "duplicate" for o in outcomes)
        message = f"{len(outcomes)} finding(s) added ({repeats} already present)."
    else:
        supersedes = (
            operations.get_item(case, form.supersedes.data) if form.supersedes.data else None
        )
        item = operations.add_evidence_file(
            case,
            actor,
            name=upload_file.filename or "",
            media_type=upload_file.mimetype,
            data=data,
            description=form.description.data or "",
            supersedes=supersedes,
            reason=form.reason.data,
        )
        message = f"Evidence item #{item.id} preserved (sha256 {item.sha256[:12]}…)."
    flash(message, "success")
    return _tab(ref)


def _details(details: Any) -> str:
    if isinstance(details, dict):
        return " (" + "; ".join(f"{k}: {v}" for k, v in details.items()) + ")"
    if isinstance(details, list):
        shown = [
            f"item {d.get('index')}, {d.get('field')}: {d.get('message')}" for d in details[:5]
        ]
        more = f"; and {len(details) - 5} more" if len(details) > 5 else ""
        return " (" + "; ".join(shown) + more + ")"
    return ""


@bp.route("/cases/<ref>/evidence/<int:item_id>")
@audited_read()
@require("case.view")
@transactional
def item(ref: str, item_id: int):
    case = get_case(ref)
    evidence = operations.get_item(case, item_id)
    operations.record_view(evidence, current_actor())
    preview = None
    if evidence.media_type.startswith(("text/", "application/json")):
        raw = (
            blob_store().get(evidence.sha256)[:PREVIEW_BYTES]
            if blob_store().exists(evidence.sha256)
            else b""
        )
        preview = raw.decode("utf-8", errors="replace")
        if evidence.media_type == "application/json":
            with contextlib.suppress(ValueError):
                preview = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    return render_template(
        "evidence/item.html",
        case=case,
        item=evidence,
        preview=preview,
        superseded_by=queries.superseded_by(evidence),
        download_form=DownloadForm(),
    )


@bp.route("/cases/<ref>/evidence/<int:item_id>/download", methods=["POST"])
@require("evidence.download")
@transactional
def download(ref: str, item_id: int):
    case = get_case(ref)
    evidence = operations.get_item(case, item_id)
    form = DownloadForm()
    if not form.validate_on_submit():
        flash("Say why you download this item.", "error")
        return redirect(url_for("evidence.item", ref=ref, item_id=item_id))
    data = operations.download_item(evidence, current_actor(), form.purpose.data)
    # The response (its headers encoded by Werkzeug: RFC 6266 filename, RFC 5987 filename*
    # for names outside Latin-1) is built before the custody record is committed: a name
    # that cannot be sent leaves no record of a download that never happened.
    response = send_file(
        BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=download_name(f"{case.ref}-{evidence.id}-{evidence.name}"),
    )
    response.headers["X-Content-SHA256"] = evidence.sha256
    return response


@bp.route("/cases/<ref>/duplicates/<int:flag_id>", methods=["POST"])
@require("case.edit")
@transactional
def resolve_duplicate(ref: str, flag_id: int):
    case = get_case(ref)
    flag = operations.get_flag(flag_id)
    if case.id not in (flag.case_id, flag.duplicate_of_id):
        abort(404)
    form = DuplicateForm()
    if not form.validate_on_submit():
        flash("Choose merge or distinct, and say why.", "error")
        return _tab(ref)
    on_refusal(url_for("cases.view", ref=ref, tab="evidence"))
    operations.resolve_duplicate(
        flag, current_actor(), form.decision.data == "merge", form.note.data
    )
    flash(
        f"{flag.case.ref} merged into {flag.duplicate_of.ref}."
        if flag.status == "merged"
        else "Recorded: different campaigns.",
        "success",
    )
    return redirect(url_for("cases.view", ref=flag.duplicate_of.ref, tab="evidence"))


@bp.route("/findings/inbox")
@require("case.view")
def inbox():
    """Newly reported cases that detectors opened, newest evidence first."""
    found = queries.inbox(INBOX_LIMIT)
    return render_template(
        "evidence/inbox.html", rows=found.rows, kinds=found.kinds, flagged=found.flagged
    )
