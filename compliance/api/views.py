"""JSON API v1. Errors are always JSON: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, text
from werkzeug.exceptions import RequestEntityTooLarge

from compliance.api.auth import api_actor, api_require, api_session_require
from compliance.cases import operations
from compliance.cases.models import SEVERITIES, STATES, Case
from compliance.cases.operations import get_case
from compliance.cases.schema import CaseCreate, CaseEdit
from compliance.errors import (
    BodyTooLarge,
    InvalidInput,
    MalformedJSON,
    OperationError,
    UnsupportedMediaType,
)
from compliance.evidence.schema import TooManyFindings, error_details
from compliance.extensions import csrf, db
from compliance.web.paging import MAX_PAGE
from compliance.web.transaction import transactional

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token calls carry no cookie; session calls are CSRF-checked in api_actor()
MAX_PER_PAGE = 200


def case_json(case: Case, detail: bool = False) -> dict[str, Any]:
    url = url_for("api.case_detail", ref=case.ref, _external=False)
    return case.as_json(detail) | {"url": url}


def read_json_body(parse: Callable[[bytes], Any] = json.loads) -> Any:
    """The request's JSON body, or the error a script can act on (415, 413, 400).

    `parse` turns the bytes into data (the findings API parses item by item, to refuse an
    oversized batch before decoding the rest); its own errors that are not JSON errors pass.
    """
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"send Content-Type: application/json (got {request.mimetype or 'none'})"
        )
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge as error:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        raise BodyTooLarge(f"the body is larger than the limit of {limit} bytes") from error
    try:
        return parse(body)
    except TooManyFindings:
        raise
    except RecursionError as error:  # nesting deeper than the parser's stack
        raise MalformedJSON("the body is not valid JSON: nested too deeply") from error
    except ValueError as error:  # JSONDecodeError, bad UTF-8, an integer with >4300 digits
        raise MalformedJSON(f"the body is not valid JSON: {error}") from error


def _validated(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        details = [{"field": d["field"], "message": d["message"]} for d in error_details(error)]
        raise InvalidInput("some case fields are not valid", details=details) from None


def _owner_named(error: OperationError) -> OperationError:
    # The operation names the column (owner_id); the body names the person (owner).
    if isinstance(error.details, dict) and "owner_id" in error.details:
        error.details = {("owner" if k == "owner_id" else k): v for k, v in error.details.items()}
    return error


def pagination() -> tuple[int, int]:
    """`?page=&per_page=`; a bad value is a 422 naming the parameter."""
    values, errors = {}, []
    for name, default, top in (("page", 1, MAX_PAGE), ("per_page", 50, MAX_PER_PAGE)):
        raw = request.args.get(name, default)
        try:
            values[name] = int(raw)
        except ValueError:
            errors.append({"field": name, "message": f"an integer from 1 to {top:,}"})
            continue
        if not 1 <= values[name] <= top:
            errors.append({"field": name, "message": f"an integer from 1 to {top:,}"})
    if errors:
        raise InvalidInput(
            f"1 ≤ page ≤ {MAX_PAGE:,} and 1 ≤ per_page ≤ {MAX_PER_PAGE}", details=errors
        )
    return values["page"], values["per_page"]


def paginated(items: list[Any], page: int, per_page: int, total: int, endpoint: str, **kw: Any):
    has_next = page * per_page < total
    return jsonify(
        {
            "items": items,
            "page": page,
            "per_page": per_page,
            "total": total,
            "next": url_for(endpoint, page=page + 1, per_page=per_page, **kw) if has_next else None,
        }
    )


@bp.get("/health")
def health():
    """For load balancers and monitoring: 200 while the database answers, 503 when it does not.

    `rate_limits` says whether the shared rate-limit store (Redis) answers: when it does not,
    the host still serves (counting in memory), so it stays in the pool and monitoring alerts.
    """
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": "ok", "rate_limits": _rate_limit_storage()})


def _rate_limit_storage() -> str:
    from flask import current_app

    from compliance.extensions import limiter

    uri = current_app.config.get("RATELIMIT_STORAGE_URI", "memory://")
    if uri.startswith("memory://"):
        return "memory (this process only)"
    try:
        return "ok" if limiter.storage.check() else "unreachable (counting in memory)"
    except Exception:  # noqa: BLE001 - a health check reports, never fails on, its probe
        return "unreachable (counting in memory)"


@bp.get("/cases")
@api_require("read")
@transactional
def cases():
    page, per_page = pagination()
    query = select(Case)
    state = request.args.get("state")
    if state:
        if state not in STATES:
            raise InvalidInput("unknown state", details=[{"field": "state", "message": state}])
        query = query.where(Case.state == state)
    severity = request.args.get("severity")
    if severity:
        if severity not in SEVERITIES:
            raise InvalidInput("unknown severity", [{"field": "severity", "message": severity}])
        query = query.where(Case.severity == severity)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Case.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    extra = {k: v for k, v in (("state", state), ("severity", severity)) if v}
    response = paginated([case_json(c) for c in rows], page, per_page, total, "api.cases", **extra)
    return response


@bp.get("/cases/<ref>")
@api_require("read")
@transactional
def case_detail(ref: str):
    response = jsonify(case_json(get_case(ref), detail=True))
    return response


class HoldRequest(BaseModel):
    """Body of POST /api/v1/cases/{ref}/hold and /release: why (recorded in the audit trail)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(min_length=1, max_length=5000)


@bp.post("/cases/<ref>/hold")
@api_session_require("hold.manage")
@transactional
def case_hold(ref: str):
    """Place a legal hold on a case, with a reason (counsel, signed in)."""
    reason = _validated(HoldRequest, read_json_body()).reason
    case = operations.place_hold(get_case(ref), api_actor(), reason)
    return jsonify(case_json(case, detail=True) | {"legal_hold_reason": case.legal_hold_reason})


@bp.post("/cases/<ref>/release")
@api_session_require("hold.manage")
@transactional
def case_release(ref: str):
    """Release a case's legal hold, with a reason (counsel, signed in)."""
    reason = _validated(HoldRequest, read_json_body()).reason
    case = operations.release_hold(get_case(ref), api_actor(), reason)
    return jsonify(case_json(case, detail=True) | {"legal_hold_reason": None})


@bp.post("/cases")
@api_session_require("case.create")
@transactional
def case_create():
    """Open a case in `reported` (as the web form does; a signed-in analyst or counsel)."""
    fields = _validated(CaseCreate, read_json_body())
    try:
        case = operations.create_case(
            api_actor(),
            ref_prefix=current_app.config["CASE_REF_PREFIX"],
            **fields.operation_fields(),
        )
    except OperationError as error:
        raise _owner_named(error) from None
    db.session.flush()
    body = case_json(case, detail=True)
    return jsonify(body), 201, {"Location": body["url"]}


@bp.patch("/cases/<ref>")
@api_session_require("case.edit")
@transactional
def case_edit(ref: str):
    """Change a case's details (as the web form "Edit details" does); only the fields sent."""
    case = get_case(ref)
    fields = _validated(CaseEdit, read_json_body())
    changes = fields.operation_fields()
    if not changes:
        raise InvalidInput(
            "nothing to change", details=[{"field": "", "message": "send at least one field"}]
        )
    try:
        operations.update_case(case, api_actor(), changes, expected_version=fields.version)
    except OperationError as error:
        raise _owner_named(error) from None
    db.session.flush()
    body = case_json(case, detail=True)
    return jsonify(body)


@bp.get("/notices")
@api_require("read")
def notices():
    """Notices sent, newest first; `?state=` and `?case=REF` filter."""
    from compliance.notices.operations import list_notices, notice_json

    page, per_page = pagination()
    state = request.args.get("state") or None
    ref = request.args.get("case") or None
    rows, total = list_notices(
        state=state,
        case=get_case(ref) if ref else None,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    items = [notice_json(n) | {"url": url_for("api.notice_detail", notice_id=n.id)} for n in rows]
    extra = {k: v for k, v in (("state", state), ("case", ref)) if v}
    response = paginated(items, page, per_page, total, "api.notices", **extra)
    db.session.commit()
    return response


@bp.get("/notices/<int:notice_id>")
@api_require("read")
def notice_detail(notice_id: int):
    """One notice with its history, targeted identifiers and (referrals) the agency's requests."""
    from compliance.notices.operations import get_notice, notice_json

    response = jsonify(notice_json(get_notice(notice_id), detail=True))
    db.session.commit()
    return response
