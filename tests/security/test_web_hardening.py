"""CSRF, throttling, cookies and sanitising: the web layer's defences, tried for real."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import create_app
from compliance.markdown import render_markdown
from tests.conftest import PASSWORD


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": True}


def _csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    return match.group(1).decode()


def test_state_changing_forms_need_the_csrf_token(app, make_user, make_case):
    user = make_user("counsel")
    case = make_case()
    client = app.test_client()
    login_page = client.get("/login")
    forged_login = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert forged_login.status_code == 400
    token = _csrf(login_page.data)
    signed_in = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    forged = client.post(f"/cases/{case.ref}/transition", data={"target": "triage"})
    assert forged.status_code == 400
    page = client.get(f"/cases/{case.ref}")
    real = client.post(
        f"/cases/{case.ref}/transition", data={"target": "triage", "csrf_token": _csrf(page.data)}
    )
    assert real.status_code == 302


def test_session_authenticated_api_writes_need_csrf(app, make_user):
    user = make_user("analyst")
    client = app.test_client()
    token = _csrf(client.get("/login").data)
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    response = client.post("/api/v1/findings", json=[])
    assert response.status_code == 400  # the browser session alone cannot write


def test_failed_logins_are_throttled(app, make_user):
    user = make_user("analyst")
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    statuses = [
        client.post("/login", data={"email": user.email, "password": "wrong"}).status_code
        for _ in range(12)
    ]
    assert statuses[-1] == 429


def test_production_cookies_are_secure(app_config, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_SECRET_KEY", "s" * 64)
    config = {**app_config, "TESTING": False, "ENV": "production"}
    app = create_app(config)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["REMEMBER_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


NASTY = [
    "<script>alert(1)</script>",
    '<img src="file:///etc/passwd">',
    '<a rel="attachment" href="file:///etc/passwd">x</a>',
    "[click](javascript:alert(1))",
    "[rel](/admin/users)",
    '<iframe src="https://evil.example"></iframe>',
    "<svg onload=alert(1)>",
    '<a href="https://ok.example" onclick="steal()">ok</a>',
    "<style>body{display:none}</style>",
    "[data](data:text/html;base64,PHNjcmlwdD4=)",
]


@pytest.mark.parametrize("text", NASTY)
def test_markdown_corpus_is_neutralised(text):
    html = str(render_markdown(text))
    for forbidden in (
        "<script",
        "javascript:",
        "file:",
        "onload",
        "onclick",
        "<iframe",
        "<img",
        "<style",
        "data:",
        'href="/',
    ):
        assert forbidden not in html.lower(), (text, html)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.sampled_from(NASTY))
def test_markdown_never_emits_script_or_handlers(text):
    html = str(render_markdown(text)).lower()
    assert "<script" not in html and "javascript:" not in html
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html)
