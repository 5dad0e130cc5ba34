"""Every URL rule of the app, for every kind of caller: who gets in, who is refused.

The expectation for a route comes from its permission marker (`@require` and, for session-only
API acts such as legal holds, `@api_session_require` set `permission`; `@api_require` sets
`api_scope`; `@taxii_require` sets `taxii_partner`: a partner lab's TAXII token and nothing
else) or from the small table below. A route with neither fails the test, so a new page cannot
ship without deciding who may use it. Tokens (one per scope) open only routes of their scope: a
`permission` route, web page or session-only API act, refuses every token.
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
    "web.favicon",
}
LOGIN_ONLY = {
    "web.dashboard",
    "auth.logout",
    "auth.account_password",  # one's own password
    "auth.two_factor",  # one's own authenticator
    "auth.no_access",
    "reviews.notifications",
    "reviews.mark_read",
    "signatory.profile",  # each person keeps their own
}
IDENTITIES = (
    "anonymous",
    "analyst",
    "counsel",
    "auditor",
    "admin",
    "ingest_token",
    "read_token",
    "partner_token",
)
TOKENS = {"ingest_token": "ingest", "read_token": "read"}
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
    if getattr(view, "taxii_partner", False):
        return "taxii", None
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
    if kind == "taxii" or identity == "partner_token":
        return kind == "taxii" and identity == "partner_token"
    if identity in TOKENS:
        return kind == "scope" and need == TOKENS[identity]
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
    from compliance.intel.taxii_server import create_collection, create_partner_token

    # Routes are called with id 1: make the first user, token and case throwaways, so that
    # an allowed call (an admin deactivating user 1, revoking token 1) spares the callers.
    make_user("analyst")
    create_token(operator, "throwaway", ["read"])
    case = make_case(title="Access matrix case")
    raw_tokens = {
        identity: create_token(operator, f"matrix {scope}", [scope])[1]
        for identity, scope in TOKENS.items()
    }
    collection = create_collection(
        operator, title="Matrix", community="Matrix forum", max_tlp="amber"
    )
    create_partner_token(operator, partner="Throwaway Lab", collection=collection)  # id 1
    _, partner_token = create_partner_token(operator, partner="Matrix Lab", collection=collection)
    raw_tokens["partner_token"] = partner_token
    db.session.commit()
    clients: dict[str, Any] = {"anonymous": app.test_client()}
    for role in ("analyst", "counsel", "auditor", "admin"):
        clients[role] = login_as(role)[1]
    for identity in (*TOKENS, "partner_token"):
        clients[identity] = app.test_client()

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
                if identity in raw_tokens:
                    headers["Authorization"] = f"Bearer {raw_tokens[identity]}"
                response = clients[identity].open(url, method=method, headers=headers)
                status = response.status_code
                allowed = _expected_allowed(kind, need, identity, role_perm)
                is_api = rule.rule.startswith("/api/")
                if allowed:
                    ok = status not in REFUSED and not (
                        status == 302 and "/login" in response.headers.get("Location", "")
                    )
                elif kind == "taxii":
                    # TAXII answers every other caller 401 (a browser session is not a token).
                    ok = status == 401 and response.is_json
                elif (
                    identity == "anonymous" or identity in TOKENS or identity == "partner_token"
                ) and not is_api:
                    ok = status == 302 and "/login" in response.headers.get("Location", "")
                elif identity in ("anonymous", "partner_token") and is_api:
                    ok = status == 401 and response.is_json
                else:
                    ok = status == 403 or (status == 404 and "ref" not in rule.arguments)
                if status >= 500:
                    ok = False
                if not ok:
                    problems.append(f"{method} {url} as {identity}: {status} (rule {kind} {need})")
    assert problems == [], "\n".join(problems)


def test_legal_holds_are_in_the_matrix_as_counsel_only_and_no_token(app: Flask) -> None:
    """Hold and release from the API: counsel's permission, session only (no token scope)."""
    for endpoint in ("api.case_hold", "api.case_release", "cases.hold"):
        assert _requirement(app, endpoint) == ("permission", "hold.manage")
    assert PERMISSIONS["hold.manage"] == frozenset({"counsel"})
    for token in TOKENS:
        assert not _expected_allowed("permission", "hold.manage", token, None)
