"""Every URL rule of the app, for every kind of caller: who gets in, who is refused.

The expectation for a route comes from its permission marker (`@require` sets `permission`,
`@api_require` sets `api_scope`) or from the small table below. A route with neither fails
the test, so a new page cannot ship without deciding who may use it.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from compliance.auth.operations import create_token
from compliance.auth.permissions import PERMISSIONS
from compliance.extensions import db

# Routes without a permission marker, and what they require.
PUBLIC = {
    "auth.login",
    "auth.login_second_factor",  # only after a password was checked in this browser session
    "auth.invitation",  # only with a live invitation token (a 404 otherwise)
    "api.health",
    "static",
    "findings_api.openapi",
}
LOGIN_ONLY = {
    "web.dashboard",
    "auth.logout",
    "auth.account_password",  # one's own password
    "auth.two_factor",  # one's own authenticator
    "auth.no_access",
    "reviews.notifications",
    "reviews.mark_read",
}
IDENTITIES = ("anonymous", "analyst", "counsel", "auditor", "admin", "ingest_token")
REFUSED = {401, 403}


def _requirement(app: Flask, endpoint: str) -> tuple[str, str | None]:
    view = app.view_functions[endpoint]
    if endpoint in PUBLIC:
        return "public", None
    if endpoint in LOGIN_ONLY:
        return "login", None
    if getattr(view, "permission", None):
        return "permission", view.permission
    if getattr(view, "api_scope", None):
        return "scope", view.api_scope
    return "unknown", None


def _url(rule: Any, ref: str) -> str:
    def value(match: re.Match) -> str:
        converter, name = match.group(1) or "", match.group(2)
        if "int" in converter:
            return "1"
        if name == "ref" or name.endswith("_ref"):
            return ref
        if name == "filename":
            return "app.css"
        return "x"

    return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", value, rule.rule)


def _expected_allowed(kind: str, need: str | None, identity: str, role_perm: Any) -> bool:
    if kind == "public":
        return True
    if identity == "ingest_token":
        return kind == "scope" and need == "ingest"
    if identity == "anonymous":
        return False
    if kind == "login":
        return True
    if kind == "permission":
        return identity in PERMISSIONS[need]
    if kind == "scope":
        return role_perm(identity, need)
    raise AssertionError(kind)


def test_every_route_has_an_access_rule(app: Flask) -> None:
    unknown = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if _requirement(app, rule.endpoint)[0] == "unknown"
    )
    assert unknown == [], f"routes with no access rule (use @require/@api_require): {unknown}"


def test_access_matrix(
    app: Flask, make_user: Any, make_case: Any, login_as: Any, operator: Any
) -> None:
    from compliance.api.auth import SCOPE_PERMISSION

    # Routes are called with id 1: make the first user, token and case throwaways, so that
    # an allowed call (an admin deactivating user 1, revoking token 1) spares the callers.
    make_user("analyst")
    create_token(operator, "throwaway", ["read"])
    case = make_case(title="Access matrix case")
    _, raw_token = create_token(operator, "matrix detector", ["ingest"])
    db.session.commit()
    clients: dict[str, Any] = {"anonymous": app.test_client()}
    for role in ("analyst", "counsel", "auditor", "admin"):
        clients[role] = login_as(role)[1]
    clients["ingest_token"] = app.test_client()

    def role_perm(role: str, scope: str) -> bool:
        return role in PERMISSIONS[SCOPE_PERMISSION[scope]]

    problems = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        kind, need = _requirement(app, rule.endpoint)
        if rule.endpoint == "auth.logout":
            continue  # signing out would end the sessions the rest of the matrix uses
        url = _url(rule, case.ref)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for identity in IDENTITIES:
                headers = {}
                if identity == "ingest_token":
                    headers["Authorization"] = f"Bearer {raw_token}"
                response = clients[identity].open(url, method=method, headers=headers)
                status = response.status_code
                allowed = _expected_allowed(kind, need, identity, role_perm)
                is_api = rule.rule.startswith("/api/")
                if allowed:
                    ok = status not in REFUSED and not (
                        status == 302 and "/login" in response.headers.get("Location", "")
                    )
                elif identity in ("anonymous", "ingest_token") and not is_api:
                    ok = status == 302 and "/login" in response.headers.get("Location", "")
                elif identity == "anonymous" and is_api:
                    ok = status == 401 and response.is_json
                else:
                    ok = status == 403 or (status == 404 and "ref" not in rule.arguments)
                if status >= 500:
                    ok = False
                if not ok:
                    problems.append(f"{method} {url} as {identity}: {status} (rule {kind} {need})")
    assert problems == [], "\n".join(problems)
