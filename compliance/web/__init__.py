"""Wiring shared by every page: blueprints, sign-in, errors, security headers, helpers."""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from compliance.audit.context import new_request_id
from compliance.auth.people import display_name
from compliance.auth.permissions import can
from compliance.cases.tabs import register_tab
from compliance.errors import OperationError
from compliance.extensions import db, login_manager
from compliance.markdown import render_markdown
from compliance.trail.present import format_stamp
from compliance.web.paging import RowIdConverter
from compliance.web.transaction import refused_form_post

# Each capability adds its blueprint here (module path, attribute).
BLUEPRINTS = [
    "compliance.web.views:bp",
    "compliance.auth.views:bp",
    "compliance.cases.views:bp",
    "compliance.policies.views:bp",
    "compliance.trail.views:bp",
    "compliance.api.views:bp",
    "compliance.evidence.views:bp",
    "compliance.api.findings:bp",
    "compliance.reviews.views:bp",
    "compliance.packets.views:bp",
    "compliance.packets.views:signatory_bp",
    "compliance.intel.views:bp",
    "compliance.intel.taxii_views:bp",
    "compliance.notices.views:bp",
    "compliance.notices.views:recipients_bp",
    "compliance.notices.views:send_bp",
    "compliance.notices.watch_views:bp",
]

# The tabs of the case page, in one place: (key, label, order, "module:context function",
# permission). A tab's template is templates/cases/tabs/<key>.html.
CASE_TABS = [
    ("overview", "Overview", 10, "compliance.cases.views:overview_tab", "case.view"),
    ("evidence", "Evidence", 20, "compliance.evidence.views:evidence_tab", "case.view"),
    ("clauses", "Clauses", 30, "compliance.policies.views:clauses_tab", "case.view"),
    ("reviews", "Reviews", 50, "compliance.reviews.views:reviews_tab", "case.view"),
    ("packets", "Packets", 60, "compliance.packets.views:packets_tab", "packet.view"),
    ("notices", "Notices", 62, "compliance.notices.views:notices_tab", "notice.view"),
    ("intel", "Intel", 65, "compliance.intel.views:intel_tab", "case.view"),
    ("notes", "Notes", 70, "compliance.cases.views:notes_tab", "case.view"),
    ("timeline", "Timeline", 80, "compliance.cases.views:timeline_tab", "case.view"),
    ("audit", "Audit", 90, "compliance.trail.views:_case_audit", "case.view"),
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
    ("notices.index", "Notices", "notice.view"),
    ("recipients.index", "Recipients", "recipient.view"),
    ("intel.index", "Intel sharing", "intel.import"),
    ("audit.index", "Audit trail", "audit.view"),
    ("auth.users", "Users", "user.manage"),
    ("auth.tokens", "API tokens", "token.manage"),
]

# What a signed-in user may reach before their account is set up (own password, 2FA).
SETUP_ENDPOINTS = {
    "static",
    "auth.login",
    "auth.login_second_factor",
    "auth.logout",
    "auth.invitation",
    "auth.account_password",
    "auth.two_factor",
}

# Statuses with a page of their own in templates/errors/ (others use errors/any.html).
ERROR_PAGES = (403, 404, 409, 500, 503)
# What a page says when the handler gave no reason of its own.
PAGE_MESSAGES = {
    403: "Your role may not open this page or take this action.",
    404: "There is nothing at this address: the page or record does not exist, or it was "
    "merged into another.",
    405: "This address does not accept that kind of request.",
    500: "An unexpected error stopped this request.",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
    """Wire every page into `app`, in stages: pages, sign-in, requests, headers, errors, helpers."""
    _register_pages(app)
    _register_sign_in(app)
    _register_request_hooks(app)
    _register_security_headers(app)
    _register_error_handlers(app)
    _register_template_helpers(app)


def _register_pages(app: Flask) -> None:
    """The blueprints and the case page's tabs."""
    app.url_map.converters["int"] = RowIdConverter  # before any rule is added
    for spec in BLUEPRINTS:
        module_name, attr = spec.split(":")
        app.register_blueprint(getattr(importlib.import_module(module_name), attr))
    for key, label, order, spec, permission in CASE_TABS:
        module_name, attr = spec.split(":")
        context = getattr(importlib.import_module(module_name), attr)
        register_tab(key, label, order, context, permission=permission)


def _register_sign_in(app: Flask) -> None:
    """Flask-Login: where sign-in is, and which session a cookie stands for."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token: str) -> Any:
        """The session cookie and the remember cookie hold a session record's token; the
        record must be live (not signed out, revoked or expired) and, unless the user chose
        to stay signed in, used within the idle timeout."""
        from compliance.auth.operations import session_user

        found = session_user(token)
        if found is None:
            return None
        user, record = found
        now = int(time.time())
        seen = session.get("_seen")
        if not record.remember and seen and now - seen > app.config["SESSION_IDLE_MINUTES"] * 60:
            return None
        if not seen or now - seen >= 60:
            session["_seen"] = now
        return user


def _register_request_hooks(app: Flask) -> None:
    """Each request's id and account-setup gate; the session removed after it."""

    @app.before_request
    def _start_request() -> Any:
        g.request_id = new_request_id("web-")
        if request.endpoint in SETUP_ENDPOINTS or not current_user.is_authenticated:
            return None
        # An account must be set up before anything else: its own password (after an
        # admin's one-time password), and a second factor where one is required.
        from compliance.auth.operations import two_factor_required

        if current_user.must_change_password:
            target, why = "auth.account_password", "Choose your own password to continue."
        elif two_factor_required(current_user) and not current_user.two_factor_enabled:
            target, why = "auth.two_factor", "Set up two-factor sign-in to continue."
        else:
            return None
        if _wants_json():
            return _error_response(403, "account_setup", why)
        flash(why, "info")
        return redirect(url_for(target))

    @app.teardown_request
    def _end_request(error: BaseException | None) -> None:
        db.session.remove()  # the request's own session (see extensions._session_scope)


def _register_security_headers(app: Flask) -> None:
    """The headers every response carries (CSP, no sniffing or framing, no-store, HSTS)."""

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "static":
            # Case data must not linger in shared caches or the browser's back-forward cache.
            response.headers.setdefault("Cache-Control", "no-store")
        if app.config["ENV"] == "production":
            # Browsers then refuse plain HTTP to this host for a year (and its certificate
            # errors cannot be clicked through). Production runs behind TLS only.
            response.headers["Strict-Transport-Security"] = (
                f"max-age={app.config['HSTS_MAX_AGE']}; includeSubDomains"
            )
        return response


def _wants_json() -> bool:
    """API addresses answer errors in JSON; every other address with a page."""
    return request.path.startswith("/api/")


def _error_response(status: int, code: str, message: str, details: Any = None) -> Any:
    """An error as the API's error object or as an error page, with `status`."""
    if _wants_json():
        if isinstance(details, dict):  # an operation's {field: message}: the API's list form
            details = [{"field": field, "message": text} for field, text in details.items()]
        body = {"error": {"code": code, "message": message, "details": details}}
        return jsonify(body), status
    template = f"errors/{status}.html" if status in ERROR_PAGES else "errors/any.html"
    page = render_template(
        template,
        status=status,
        message=message,
        details=details,
        request_id=g.get("request_id"),
    )
    return page, status


def _register_error_handlers(app: Flask) -> None:
    """Refusals, conflicts, an unavailable database and HTTP errors as pages or API errors."""

    @app.errorhandler(OperationError)
    def _operation_error(error: OperationError) -> Any:
        db.session.rollback()
        if not _wants_json():
            answer = refused_form_post(error)  # a form post with `back=`: flash, go back
            if answer is not None:
                return answer
        return _error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(StaleDataError)
    def _stale(error: StaleDataError) -> Any:
        db.session.rollback()
        return _error_response(
            409, "conflict", "someone else changed this record at the same time; reload and retry"
        )

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Any:
        db.session.rollback()
        app.logger.error("database error: %s", error)
        return _error_response(503, "unavailable", "the database is unavailable; try again shortly")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        code = (error.name or "error").lower().replace(" ", "_")
        message = error.description or error.name
        if not _wants_json() and message == type(error).description:
            # Werkzeug's generic sentence ("You don't have the permission to access the
            # requested resource...") says nothing to a user: our pages say it in our words.
            message = PAGE_MESSAGES.get(error.code or 500, message)
        return _error_response(error.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        db.session.rollback()
        if app.testing:
            raise error
        app.logger.exception("unhandled error")
        return _error_response(500, "internal_error", "an unexpected error occurred")


def _register_template_helpers(app: Flask) -> None:
    """The templates' filters and globals."""
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["when"] = format_when
    app.jinja_env.filters["stamp"] = format_stamp
    app.jinja_env.filters["person"] = display_name
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
