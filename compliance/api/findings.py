"""API for detectors: POST findings, read a case's evidence, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from compliance.api.auth import api_actor, api_require
from compliance.api.views import HoldRequest, pagination, read_json_body
from compliance.cases.operations import get_case
from compliance.cases.schema import CaseCreate, CaseEdit
from compliance.errors import (
    BatchTooLarge,
    Conflict,
    OperationError,
)
from compliance.evidence import operations
from compliance.evidence.models import EvidenceItem
from compliance.evidence.schema import (
    ErrorResponse,
    FindingV1,
    IngestResponse,
    TooManyFindings,
    parse_batch,
)
from compliance.extensions import csrf, db
from compliance.web.transaction import transactional

bp = Blueprint("findings_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token calls carry no cookie; session calls are CSRF-checked in api_actor()


def _read_batch() -> tuple[Any, int | None]:
    limit = current_app.config["MAX_BATCH_ITEMS"]
    try:
        batch = read_json_body(lambda body: parse_batch(body, limit))
    except TooManyFindings as error:  # refused before the rest of the body is decoded
        raise BatchTooLarge(str(error)) from None
    return batch, len(batch) if isinstance(batch, list) else 1


@bp.post("/findings")
@api_require("ingest")
def post_findings():
    """Ingest one finding or an array of findings (all or nothing).

    Not @transactional: a refused batch is rolled back, then its rejection is recorded in a
    transaction of its own (investigators ask what was refused).
    """
    actor = api_actor()
    count = None
    try:
        batch, count = _read_batch()
        outcomes = operations.ingest_findings(batch, actor, channel="api")
        db.session.commit()
    except (OperationError, IntegrityError) as error:
        db.session.rollback()
        if isinstance(error, IntegrityError):
            # Another request stored the same finding a moment ago: resending answers it.
            error = Conflict("a finding in this batch was stored concurrently; send it again")
        if error.status != 403:
            operations.record_rejected_batch(actor, "api", error, count)
            db.session.commit()
        raise error from None
    created = any(o.status != "duplicate" for o in outcomes)
    return jsonify({"results": [o.as_dict() for o in outcomes]}), 201 if created else 200


def item_json(item: EvidenceItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id,
        "role": item.role,
        "name": item.name,
        "description": item.description,
        "media_type": item.media_type,
        "sha256": item.sha256,
        "size": item.size_bytes,
        "source": item.source,
        "collected_at": item.collected_at.isoformat(),
        "created_at": item.created_at.isoformat(),
        "created_by": item.created_by,
        "supersedes": item.supersedes_id,
        "custody": [
            {
                "action": e.action,
                "actor": e.actor,
                "role": e.actor_role,
                "at": e.occurred_at.isoformat(),
                "purpose": e.purpose,
            }
            for e in item.custody
        ],
        "finding": None,
    }
    finding = item.finding
    if finding is not None:
        data["finding"] = {
            "id": finding.id,
            "detector": {"name": finding.detector_name, "version": finding.detector_version},
            "external_id": finding.external_id,
            "kind": finding.kind,
            "severity": finding.severity,
            "confidence": finding.confidence,
            "observed_from": finding.observed_from.isoformat(),
            "observed_to": finding.observed_to.isoformat(),
            "metrics": finding.metrics,
            "subjects": finding.subjects,
        }
    return data


@bp.get("/cases/<ref>/evidence")
@api_require("read")
@transactional
def case_evidence(ref: str):
    """A case's evidence items with their findings and chain of custody (paginated)."""
    case = get_case(ref)
    page, per_page = pagination()
    total = db.session.scalar(
        select(func.count()).select_from(EvidenceItem).where(EvidenceItem.case_id == case.id)
    )
    items = db.session.scalars(
        select(EvidenceItem)
        .where(EvidenceItem.case_id == case.id)
        .options(selectinload(EvidenceItem.custody), selectinload(EvidenceItem.finding))
        .order_by(EvidenceItem.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    has_next = page * per_page < total
    body = {
        "items": [item_json(i) for i in items],
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": url_for("findings_api.case_evidence", ref=ref, page=page + 1, per_page=per_page)
        if has_next
        else None,
    }
    return jsonify(body)


# ---------------------------------------------------------------- OpenAPI
_ERRORS = {
    "400": "malformed JSON",
    "401": "missing, invalid or revoked token",
    "403": "the token lacks the scope, or the role the permission",
    "404": "not found",
    "409": "conflicts with stored data",
    "413": "body too large, or more findings than one batch holds (MAX_BATCH_ITEMS, 1,000)",
    "415": "not application/json",
    "422": "invalid content; details lists {index, field, message} (the first 100; the "
    'message gives the total): field is a dotted path (subjects.0.id), "" for the whole '
    "body or item, one entry per field of a cross-field rule",
}
_CASE_ERRORS = {
    "403": "a token (case edits are a person's: sign in) or a role without the right",
    "409": "the case changed since `version`, or it is closed",
    "422": 'invalid fields; details lists {field, message} (field a dotted path, "" the body)',
}
_PAGINATED = {"page": "integer 1..1000000", "per_page": "integer 1..200"}
KNOWN_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/findings"): {
        "summary": "Ingest findings (one object or an array; all or nothing)",
        "scope": "ingest",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/Finding"},
                            {
                                "type": "array",
                                "minItems": 1,
                                "items": {"$ref": "#/components/schemas/Finding"},
                            },
                        ]
                    }
                }
            },
        },
        "responses": {
            "201": ("something was created", "IngestResponse"),
            "200": ("every item was a duplicate", "IngestResponse"),
        },
        "errors": ["400", "401", "403", "409", "413", "415", "422"],
    },
    ("get", "/api/v1/cases/{ref}/evidence"): {
        "summary": "A case's evidence items, findings and custody (paginated)",
        "scope": "read",
        "query": _PAGINATED,
        "errors": ["401", "403", "404", "422"],
    },
    ("get", "/api/v1/cases"): {
        "summary": "Cases (paginated; filter by state, severity)",
        "scope": "read",
        "query": {**_PAGINATED, "state": "workflow state", "severity": "severity"},
        "errors": ["401", "403", "422"],
    },
    ("get", "/api/v1/cases/{ref}"): {
        "summary": "One case with its workflow history",
        "scope": "read",
        "errors": ["401", "403", "404"],
    },
    **{
        ("post", f"/api/v1/cases/{{ref}}/{act}"): {
            "summary": f"{act.capitalize()} a legal hold with a reason (counsel, signed in; "
            "no token scope opens it)",
            "permission": "hold.manage",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/HoldRequest"}}
                },
            },
            "errors": ["400", "401", "403", "404", "409", "415", "422"],
        }
        for act in ("hold", "release")
    },
    ("post", "/api/v1/cases"): {
        "summary": "Open a case (a signed-in analyst or counsel; not a token)",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CaseCreate"}}
            },
        },
        "responses": {"201": ("the case opened, as GET /api/v1/cases/{ref} answers", None)},
        "errors": ["400", "401", "403", "413", "415", "422"],
    },
    ("patch", "/api/v1/cases/{ref}"): {
        "summary": "Change a case's details (a signed-in analyst or counsel; not a token)",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CaseEdit"}}},
        },
        "responses": {"200": ("the case after the edit, as GET answers it", None)},
        "errors": ["400", "401", "403", "404", "409", "413", "415", "422"],
    },
    ("get", "/api/v1/notices"): {
        "summary": "Notices sent, newest first (paginated; filter by state, case)",
        "scope": "read",
        "query": {**_PAGINATED, "state": "notice state", "case": "case reference"},
        "errors": ["401", "403", "404", "422"],
    },
    ("get", "/api/v1/notices/{notice_id}"): {
        "summary": "One notice: history, targeted identifiers, the agency's requests",
        "scope": "read",
        "errors": ["401", "403", "404"],
    },
    ("get", "/api/v1/health"): {"summary": "Liveness and database check"},
    ("get", "/api/v1/openapi.json"): {"summary": "This document"},
}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (FindingV1, IngestResponse, ErrorResponse, HoldRequest, CaseCreate, CaseEdit):
        schema = model.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="validation"
        )
        schemas.update(schema.pop("$defs", {}))
        schemas[schema.get("title", model.__name__) if model is FindingV1 else model.__name__] = (
            schema
        )
    return schemas


def _operation(method: str, path: str, rule: Any) -> dict[str, Any]:
    known = KNOWN_OPERATIONS.get((method, path), {})
    view = current_app.view_functions.get(rule.endpoint)
    scope = known.get("scope") or getattr(view, "api_scope", None)
    doc = (view.__doc__ or "").strip().splitlines()[0] if view and view.__doc__ else rule.endpoint
    op: dict[str, Any] = {"operationId": rule.endpoint, "summary": known.get("summary", doc)}
    parameters = [
        {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
        for arg in sorted(rule.arguments)
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "integer" if "integer" in text else "string"},
        }
        for name, text in known.get("query", {}).items()
    ]
    if parameters:
        op["parameters"] = parameters
    if "requestBody" in known:
        op["requestBody"] = known["requestBody"]
    responses: dict[str, Any] = {}
    for status, (text, model) in known.get("responses", {}).items():
        schema = {"$ref": f"#/components/schemas/{model}"} if model else {"type": "object"}
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": schema}},
        }
    if not responses:
        responses["200"] = {"description": "OK", "content": {"application/json": {}}}
    person = getattr(view, "api_session_only", False)
    permission = known.get("permission") or getattr(view, "permission", None)
    for status in known.get("errors", ["401", "403"] if scope or permission else []):
        responses[status] = {
            "description": (_CASE_ERRORS if person else {}).get(status, _ERRORS[status]),
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
            },
        }
    op["responses"] = responses
    if scope:
        op["security"] = [{"bearer": [scope]}, {"session": []}]
        op["x-required-scope"] = scope
    elif person or permission:
        # Session only (with an X-CSRFToken header): a decision signed by a person.
        op["security"] = [{"session": []}]
        op["x-required-permission"] = permission
    return op


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document, generated from the models that validate requests."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for argument in rule.arguments:  # drop converters: {int:id} -> {id}
            path = path.replace(f"{{int:{argument}}}", f"{{{argument}}}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(method.lower(), path, rule)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Distillation case management API",
            "version": "1",
            "description": "Findings from detectors (schema distillation-finding/v1), "
            "read access to cases, and legal holds placed or released by signed-in counsel "
            "(session cookie plus X-CSRFToken header; no token opens them). "
            'Errors are {"error": {code, message, details}}.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
    return jsonify(document)
