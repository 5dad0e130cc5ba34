"""JSON API v1. Errors are always JSON: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, text

from compliance.api.auth import api_actor, api_require, api_session_require
from compliance.cases import operations
from compliance.cases.models import SEVERITIES, STATES, Case
from compliance.cases.operations import get_case
from compliance.errors import InvalidInput, MalformedJSON, UnsupportedMediaType
from compliance.extensions import csrf, db
from compliance.web.paging import MAX_PAGE

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token calls carry no cookie; session calls are CSRF-checked in api_actor()
MAX_PER_PAGE = 200


def case_json(case: Case, detail: bool = False) -> dict[str, Any]:
    data = {
        "ref": case.ref,
        "title": case.title,
        "state": case.state,
        "severity": case.severity,
        "confidence": case.confidence,
        "owner": case.owner.email if case.owner else None,
        "legal_hold": case.legal_hold,
        "incident_start": case.incident_start.isoformat() if case.incident_start else None,
        "incident_end": case.incident_end.isoformat() if case.incident_end else None,
        "next_review_at": case.next_review_at.isoformat() if case.next_review_at else None,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "url": url_for("api.case_detail", ref=case.ref, _external=False),
    }
    if detail:
        data |= {
            "summary": case.summary,
            "suspected_actor": case.suspected_actor,
            "jurisdiction": case.jurisdiction,
            "estimated_queries": case.estimated_queries,
            "targeted_domains": case.targeted_domains,
            "chosen_actions": case.chosen_actions,
            "outcome": case.outcome,
            "version": case.version,
            "transitions": [
                {
                    "from": t.from_state,
                    "to": t.to_state,
                    "actor": t.actor,
                    "reason": t.reason,
                    "at": t.occurred_at.isoformat(),
                }
                for t in case.transitions
            ],
        }
    return data


def pagination() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 50))
    except ValueError as error:
        raise InvalidInput("page and per_page must be integers") from error
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"1 ≤ page ≤ {MAX_PAGE:,} and 1 ≤ per_page ≤ {MAX_PER_PAGE}")
    return page, per_page


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
    db.session.commit()  # records the token's last use
    return response


@bp.get("/cases/<ref>")
@api_require("read")
def case_detail(ref: str):
    response = jsonify(case_json(get_case(ref), detail=True))
    db.session.commit()
    return response


class HoldRequest(BaseModel):
    """Body of POST /api/v1/cases/{ref}/hold and /release: why (recorded in the audit trail)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(min_length=1, max_length=5000)


def _hold_reason() -> str:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"send Content-Type: application/json (got {request.mimetype or 'none'})"
        )
    try:
        body = HoldRequest.model_validate_json(request.get_data(cache=False) or b"null")
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            raise MalformedJSON("the body is not valid JSON") from None
        raise InvalidInput(
            "a hold needs a reason",
            details=[
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                for e in error.errors()
            ],
        ) from None
    return body.reason


@bp.post("/cases/<ref>/hold")
@api_session_require("hold.manage")
def case_hold(ref: str):
    """Place a legal hold on a case, with a reason (counsel, signed in)."""
    case = operations.place_hold(get_case(ref), api_actor(), _hold_reason())
    db.session.commit()
    return jsonify(case_json(case, detail=True) | {"legal_hold_reason": case.legal_hold_reason})


@bp.post("/cases/<ref>/release")
@api_session_require("hold.manage")
def case_release(ref: str):
    """Release a case's legal hold, with a reason (counsel, signed in)."""
    case = operations.release_hold(get_case(ref), api_actor(), _hold_reason())
    db.session.commit()
    return jsonify(case_json(case, detail=True) | {"legal_hold_reason": None})
