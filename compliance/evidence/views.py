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
    request,
    send_file,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import select

from compliance.auth.access import current_actor, require
from compliance.cases.models import SUBJECT_TYPES, Case
from compliance.cases.operations import get_case
from compliance.errors import InvalidInput
from compliance.evidence import operations, queries
from compliance.evidence.forms import DownloadForm, DuplicateForm, UploadForm
from compliance.evidence.models import FINDING_KINDS, EvidenceItem, Finding
from compliance.evidence.schema import TooManyFindings, parse_batch
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.web.audited import audited_read, download_name
from compliance.web.paging import MAX_PAGE, page_arg
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("evidence", __name__)
INBOX_LIMIT = 100
PREVIEW_BYTES = 64 * 1024
TAB_PAGE = queries.TAB_PAGE


# What the Evidence tab shows of each finding: columns, not whole mapped objects.
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


def evidence_tab(case: Case, actor: Any) -> dict[str, Any]:
    # A campaign case gathers a thousand findings and ten thousand subjects: the tab opens
    # with counts, then shows one page of each list (filtered by ?kind= and ?subject_type=).
    page = page_arg()
    kind = request.args.get("kind") if request.args.get("kind") in FINDING_KINDS else None
    subject_type = request.args.get("subject_type")
    subject_type = subject_type if subject_type in SUBJECT_TYPES else None
    subject_page = min(max(request.args.get("subject_page", 1, type=int), 1), MAX_PAGE)
    summary = queries.summary(case.id)
    items, custody = queries.items_page(case.id, page)
    findings_shown = summary.findings_by_kind.get(kind, 0) if kind else summary.findings_total
    subjects_shown = (
        summary.subjects_by_type.get(subject_type, 0) if subject_type else summary.subjects_total
    )
    return {
        "summary": summary,
        "kind": kind,
        "subject_type": subject_type,
        "finding_articles": _finding_articles(queries.findings_page(case.id, page, kind), case.ref),
        "items": items,
        "custody": custody,
        "findings_total": findings_shown,
        "items_total": summary.items_total,
        "evidence_page": page,
        "evidence_pages": queries.pages(max(findings_shown, summary.items_total), TAB_PAGE),
        "subjects": queries.subjects_page(case.id, subject_page, subject_type),
        "subjects_total": subjects_shown,
        "subject_page": subject_page,
        "subject_pages": queries.pages(subjects_shown, queries.SUBJECT_PAGE),
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
