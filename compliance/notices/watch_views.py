"""Pages of the re-upload watch and the notices' deadlines: an analyst's identifier check,
closing a repeat flag, the follow-up notice citing the earlier one; template helpers that put
deadlines and repeat flags on the notice page, the case's Notices tab and the dashboard."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for

from compliance.auth.access import current_actor, require
from compliance.errors import OperationError
from compliance.notices import due_dates, stats, watch
from compliance.notices.watch_forms import CheckIdentifierForm, CloseRepeatForm
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("notice_watch", __name__, url_prefix="/notices")


@bp.app_template_global("notice_deadlines")
def notice_deadlines(notice):  # noqa: ANN001, ANN201 - a template helper
    return due_dates.deadlines_of(notice)


@bp.app_template_global("notice_next_deadline")
def notice_next_deadline(notice):  # noqa: ANN001, ANN201
    return due_dates.next_deadline(notice)


@bp.app_template_global("notice_repeats")
def notice_repeats(notice):  # noqa: ANN001, ANN201
    return watch.flags_for_notice(notice)


@bp.app_template_global("case_repeats")
def case_repeats(case):  # noqa: ANN001, ANN201
    return watch.flags_for_case(case)


@bp.app_template_global("close_repeat_form")
def close_repeat_form():  # noqa: ANN201
    return CloseRepeatForm()


@bp.app_template_global("notices_by_deadline")
def notices_by_deadline(limit: int = 10):  # noqa: ANN201
    return stats.by_next_deadline(limit)


@bp.app_template_global("recipient_response_times")
def recipient_response_times():  # noqa: ANN201
    return stats.response_times()


@bp.route("/charts/response-times.svg")
@require("notice.view")
def response_times_chart():
    response = Response(stats.response_times_svg(), mimetype="image/svg+xml")
    # Shown through <img>, where nothing runs; pygal's SVG carries its own <style>.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.route("/check", methods=["GET", "POST"])
@require("notice.manage")
@transactional
def check():
    """Does this URL, repository, file hash or model name name material we had taken down?"""
    form = CheckIdentifierForm()
    result = None
    if form.validate_on_submit():
        try:
            result = watch.check_identifier(
                current_actor(), form.kind.data, form.value.data, form.where_seen.data or ""
            )
        except OperationError as error:
            details = error.details if isinstance(error.details, dict) else {}
            form.value.errors = [*form.value.errors, *details.values()] or [error.message]
    status = 422 if form.errors else 200  # 422: nothing of a refusal is kept
    return render_template("notices/check.html", form=form, result=result), status


@bp.route("/repeats/<int:flag_id>/close", methods=["POST"])
@require("notice.manage")
@transactional
def close_repeat(flag_id: int):
    flag = watch.get_flag(flag_id)
    form = CloseRepeatForm()
    if form.validate_on_submit():
        on_refusal(
            url_for("notices.view", notice_id=flag.notice_id),
            lambda error: error.message + "".join(f"; {m}" for m in (error.details or {}).values()),
        )
        watch.close_flag(flag, current_actor(), form.status.data, form.note.data or "")
        flash(f"Re-upload flag {flag.id}: {flag.status_label.lower()}.", "success")
    else:
        flash("Choose an outcome.", "error")
    return redirect(url_for("notices.view", notice_id=flag.notice_id))


@bp.route("/repeats/<int:flag_id>/follow-up")
@require("packet.build")
def follow_up(flag_id: int):
    """Compose a follow-up notice on the earlier notice's case, citing it (prefilled)."""
    flag = watch.get_flag(flag_id)
    notice = flag.notice
    args = {"ref": notice.case.ref, "type": notice.packet_type, "repeat": flag.id}
    if notice.packet_id:
        args["from"] = notice.packet_id
    return redirect(url_for("packets.new", **args))
