"""Wiring shared by every page: blueprints, sign-in, errors, security headers, helpers."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from compliance.audit.context import new_request_id
from compliance.auth.permissions import can
from compliance.errors import OperationError
from compliance.extensions import db, login_manager
from compliance.markdown import render_markdown
from compliance.web.paging import RowIdConverter

# Each capability adds its blueprint here (module path, attribute).
BLUEPRINTS = [
    "compliance.web.views:bp",
    "compliance.auth.views:bp",
    "compliance.cases.views:bp",
    "compliance.policies.views:bp",
    "compliance.audit.views:bp",
    "compliance.api.views:bp",
    "compliance.evidence.views:bp",
    "compliance.api.findings:bp",
    "compliance.reviews.views:bp",
    "compliance.packets.views:bp",
    "compliance.packets.views:signatory_bp",
    "compliance.intel.views:bp",
    "compliance.intel.taxii_views:bp",
]

# The top navigation: (endpoint, label, permission). Each capability adds its pages here.
NAV_ITEMS = [
    ("web.dashboard", "Dashboard", "case.view"),
    ("cases.index", "Cases", "case.view"),
    ("policies.index", "Policies", "policy.view"),
    ("evidence.inbox", "Findings inbox", "case.view"),
    ("reviews.mine", "My reviews", "review.complete"),
    ("reviews.team", "Review calendar", "case.view"),
    ("reviews.outbox", "Outbox & jobs", "user.manage"),
    ("intel.index", "Intel sharing", "intel.import"),
    ("audit.index", "Audit trail", "audit.view"),
    ("auth.users", "Users", "user.manage"),
    ("auth.tokens", "API tokens", "token.manage"),
]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter  # before any rule is added
    for spec in BLUEPRINTS:
        module_name, attr = spec.split(":")
        app.register_blueprint(getattr(importlib.import_module(module_name), attr))

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        from compliance.auth.models import User

        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None

    @app.before_request
    def _start_request() -> None:
        g.request_id = new_request_id("web-")

    @app.teardown_request
    def _end_request(error: BaseException | None) -> None:
        db.session.remove()  # the request's own session (see extensions._session_scope)

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "static":
            # Case data must not linger in shared caches or the browser's back-forward cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    def error_response(status: int, code: str, message: str, details: Any = None) -> Any:
        if wants_json():
            if isinstance(details, dict):  # an operation's {field: message}: the API's list form
                details = [{"field": field, "message": text} for field, text in details.items()]
            body = {"error": {"code": code, "message": message, "details": details}}
            return jsonify(body), status
        template = f"errors/{status}.html" if status in (403, 404, 409, 503) else "errors/any.html"
        return render_template(template, status=status, message=message, details=details), status

    @app.errorhandler(OperationError)
    def _operation_error(error: OperationError) -> Any:
        db.session.rollback()
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(StaleDataError)
    def _stale(error: StaleDataError) -> Any:
        db.session.rollback()
        return error_response(
            409, "conflict", "someone else changed this record at the same time; reload and retry"
        )

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Any:
        db.session.rollback()
        app.logger.error("database error: %s", error)
        return error_response(503, "unavailable", "the database is unavailable; try again shortly")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        db.session.rollback()
        if app.testing:
            raise error
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")

    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["when"] = format_when
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["label"] = lambda value: (value or "").replace("_", " ")
    app.jinja_env.filters["metric"] = format_metric
    app.jinja_env.globals["nav_items"] = NAV_ITEMS
    app.jinja_env.globals["can"] = lambda permission: can(current_user, permission)


def format_when(value: datetime | None) -> str:
    """Times are shown in UTC with the zone spelled out: evidence needs unambiguous times."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_metric(value: Any) -> Any:
    """A detector's metric: large counts with thousands separators, anything else as sent."""
    if type(value) is int or type(value) is float:  # not bool, which is an int too
        return f"{value:,}" if value > 999 else value
    return value


def format_date(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d")
