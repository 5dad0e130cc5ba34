"""Accounts and sessions (findings 4, 5, 8; two-factor sign-in; HSTS).

- An admin cannot make themselves (or a puppet) counsel: counsel and admin grants need a
  second admin; an admin never chooses another person's password.
- Sessions are server-side records: logout, password and role changes, deactivation and
  "sign out everywhere" end them at once; an idle session ends; remember-me differs per
  sign-in.
- Sign-in answers cost the same for unknown e-mails; guesses slow down their own client, not
  the account's owner; failures are audited once per account and window, with a count.
- Counsel and admins use a second factor in production, with one-time recovery codes.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.auth import operations
from compliance.auth.models import RoleGrant, User, UserSession
from compliance.db import utcnow
from compliance.errors import Conflict, PermissionDenied
from compliance.extensions import db
from tests.conftest import PASSWORD


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def _login(client, email: str, password: str = PASSWORD, **data: Any) -> Any:
    return client.post("/login", data={"email": email, "password": password, **data})


# ---------------------------------------------------------------- finding 4
def test_an_admin_cannot_create_a_counsel_account_alone(app, login_as, make_user):
    admin, client = login_as("admin")
    response = client.post(
        "/admin/users",
        data={"email": "puppet@lab.example", "name": "Puppet Counsel", "role": "counsel"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    link = re.search(r"https?://[^\s<]+/invite/[\w-]+", page).group(0)
    puppet = operations.find_user("puppet@lab.example")
    assert puppet.role == "counsel" and not puppet.active  # not usable yet
    # The admin cannot activate it themselves, nor confirm their own grant.
    assert client.post(f"/admin/users/{puppet.id}/active").status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, puppet.id).active
    grant = db.session.scalar(select(RoleGrant).where(RoleGrant.user_id == puppet.id))
    client.post(f"/admin/grants/{grant.id}/confirm")
    db.session.expire_all()
    assert grant.status == "pending"
    # The person sets their own password from the link: the admin never knew one.
    invited = app.test_client()
    path = link.split("compliance.test", 1)[-1]
    assert invited.get(path).status_code == 200
    chosen = {"password": "my own long passphrase", "confirm": "my own long passphrase"}
    assert invited.post(path, data=chosen).status_code == 302
    assert invited.get(path).status_code == 404  # the link works once
    assert _login(invited, puppet.email, "my own long passphrase").status_code != 302
    # A second admin confirms; then, and only then, the account works.
    _second, second_client = login_as("admin")
    assert second_client.post(f"/admin/grants/{grant.id}/confirm").status_code == 302
    db.session.expire_all()
    assert grant.status == "confirmed" and grant.decided_by != grant.requested_by
    assert _login(app.test_client(), puppet.email, "my own long passphrase").status_code == 302
    actions = [e.action for e in _events("user.role_grant_requested")] + [
        e.action for e in _events("user.role_grant_confirmed")
    ]
    assert actions == ["user.role_grant_requested", "user.role_grant_confirmed"]
    users_page = second_client.get("/admin/users").get_data(as_text=True)
    assert "Role grants" in users_page and "puppet@lab.example" in users_page


def test_promoting_an_existing_user_waits_for_a_second_admin(app, actor_for, make_user):
    first_admin, second_admin = actor_for("admin"), actor_for("admin")
    analyst = make_user("analyst")
    grant = operations.set_role(first_admin, analyst, "counsel")
    assert analyst.role == "analyst" and grant.status == "pending"
    with pytest.raises(PermissionDenied, match="four-eyes"):
        operations.confirm_grant(first_admin, grant)
    with pytest.raises(PermissionDenied):
        operations.create_user(first_admin, "x@lab.example", "analyst", "a password I chose")
    operations.confirm_grant(second_admin, grant)
    assert analyst.role == "counsel"
    # The operator (a shell on the server) grants directly.
    auditor = make_user("auditor")
    assert operations.set_role(Actor.cli_operator(), auditor, "admin") is None
    assert auditor.role == "admin"


def test_an_admins_password_for_someone_else_is_one_time(app, make_user, actor_for):
    user = make_user("analyst")
    operations.set_password(actor_for("admin"), user, "temporary password 1")
    db.session.commit()
    client = app.test_client()
    assert _login(client, user.email, "temporary password 1").status_code == 302
    page = client.get("/cases/", follow_redirects=False)
    assert page.status_code == 302 and "/account/password" in page.headers["Location"]
    new = {"password": "only I know this one", "confirm": "only I know this one"}
    assert client.post("/account/password", data=new).status_code == 302
    assert client.get("/cases/").status_code == 200


# ---------------------------------------------------------------- finding 5
def test_logout_ends_the_session_and_its_remember_cookie(app, make_user):
    user = make_user("analyst")
    client = app.test_client()
    assert _login(client, user.email, remember="y").status_code == 302
    session_cookie = client.get_cookie("session", domain="compliance.test").value
    remember_cookie = client.get_cookie("remember_token", domain="compliance.test").value
    assert client.post("/logout").status_code == 302
    for name, value in (("session", session_cookie), ("remember_token", remember_cookie)):
        replay = app.test_client()
        replay.set_cookie(name, value, domain="compliance.test")
        response = replay.get("/cases/")
        assert response.status_code == 302 and "/login" in response.headers["Location"], name


def test_remember_me_differs_per_sign_in(app, make_user):
    user = make_user("analyst")
    cookies = []
    for _ in range(2):
        client = app.test_client()
        _login(client, user.email, remember="y")
        cookies.append(client.get_cookie("remember_token", domain="compliance.test").value)
    assert cookies[0] != cookies[1]
    assert str(user.id) not in {c.split("|")[0] for c in cookies}


@pytest.mark.parametrize("event", ["password", "role", "deactivate", "sign_out_everywhere"])
def test_account_changes_end_every_session_at_once(app, make_user, actor_for, event):
    user = make_user("analyst")
    clients = [app.test_client(), app.test_client()]
    for client in clients:
        _login(client, user.email, remember="y")
        assert client.get("/cases/").status_code == 200
    admin = actor_for("admin")
    if event == "password":
        operations.set_password(user_actor := Actor.for_user(user), user, "a brand new password")
        assert user_actor
    elif event == "role":
        operations.set_role(admin, user, "auditor")
    elif event == "deactivate":
        operations.set_active(admin, user, False)
    else:
        operations.sign_out_everywhere(admin, user)
    db.session.commit()
    for client in clients:
        response = client.get("/cases/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_admin_signs_a_user_out_everywhere_from_the_users_page(app, make_user, login_as):
    user = make_user("analyst")
    victim = app.test_client()
    _login(victim, user.email)
    _admin, admin_client = login_as("admin")
    assert admin_client.post(f"/admin/users/{user.id}/sign-out").status_code == 302
    assert victim.get("/cases/").status_code == 302
    (event,) = _events("user.sessions_ended")
    assert event.details["sessions"] == 1


def test_an_idle_session_ends(app, make_user):
    user = make_user("analyst")
    client = app.test_client()
    _login(client, user.email)
    assert client.get("/cases/").status_code == 200
    with client.session_transaction() as session:
        session["_seen"] = int(time.time()) - 31 * 60
    assert client.get("/cases/").status_code == 302


# ---------------------------------------------------------------- finding 8
def test_unknown_e_mails_cost_the_same_password_work(app, make_user, monkeypatch):
    user = make_user("analyst")
    checks = []
    import werkzeug.security

    real = werkzeug.security.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checks.append(pwhash.split(":", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr("compliance.auth.operations.sign_in.check_password_hash", counting)
    monkeypatch.setattr("compliance.auth.models.check_password_hash", counting)
    operations.authenticate("nobody@lab.example", "a guess at random")
    operations.authenticate(user.email, "a guess at random")
    assert checks == ["scrypt", "scrypt"]


def test_guesses_back_off_their_client_not_the_owner(app, make_user):
    user = make_user("counsel")
    for _ in range(5):
        assert operations.authenticate(user.email, "wrong guess", "203.0.113.9").user is None
    blocked = operations.authenticate(user.email, PASSWORD, "203.0.113.9")
    assert blocked.user is None and blocked.retry_after is not None
    assert operations.authenticate(user.email, PASSWORD, "198.51.100.7").user is user


def test_failed_sign_ins_are_audited_once_per_account_and_window(app, make_user):
    user = make_user("analyst")
    now = utcnow()
    for n in range(40):  # an outsider hammering one account, and random unknown e-mails
        operations.authenticate(user.email, f"guess {n}", f"203.0.113.{n}", now=now)
        operations.authenticate(f"random{n}@lab.example", "guess", "203.0.113.1", now=now)
    db.session.commit()
    first = _events("auth.login_failed")
    assert len(first) == 2  # one for the account, one for unknown e-mails
    assert {e.details["account"] for e in first} == {f"user:{user.id}", "unknown"}
    assert all("guess" not in e.payload for e in first)  # never the attempted password
    # When the window is over, its total is recorded (by the next sign-in attempt).
    later = now + timedelta(minutes=16)
    operations.authenticate(user.email, PASSWORD, "198.51.100.7", now=later)
    db.session.commit()
    totals = {
        e.details["account"]: e.details["failures"] for e in _events("auth.login_failures_counted")
    }
    assert totals == {f"user:{user.id}": 40, "unknown": 40}
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) < 20


# ---------------------------------------------------------------- two-factor
def _enrol(client) -> tuple[str, list[str]]:
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<pre class="token">([A-Z2-7]+)</pre>', page).group(1)
    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()})
    codes = re.search(r'<pre class="token">([^<]+)</pre>', done.get_data(as_text=True)).group(1)
    return secret, codes.split()


def test_counsel_must_enrol_and_then_sign_in_with_a_code(app, make_user):
    app.config["TWO_FACTOR_REQUIRED"] = True
    user = make_user("counsel")
    client = app.test_client()
    assert _login(client, user.email).status_code == 302
    gated = client.get("/cases/")
    assert gated.status_code == 302 and "/account/two-factor" in gated.headers["Location"]
    secret, codes = _enrol(client)
    assert len(codes) == 10
    assert client.get("/cases/").status_code == 200
    assert [e.action for e in _events("user.two_factor_enabled")] == ["user.two_factor_enabled"]

    fresh = app.test_client()
    step = _login(fresh, user.email)
    assert step.status_code == 302 and "/login/two-factor" in step.headers["Location"]
    assert fresh.get("/cases/").status_code == 302  # a password alone is not a session
    wrong = fresh.post("/login/two-factor", data={"code": "000000"})
    assert wrong.status_code == 200 and b"not valid" in wrong.data
    totp = pyotp.TOTP(secret)
    code = totp.at(time.time() + totp.interval)  # the next code: the enrolment used this one
    assert fresh.post("/login/two-factor", data={"code": code}).status_code == 302
    assert fresh.get("/cases/").status_code == 200
    # The same code never works twice; a recovery code works once.
    again = app.test_client()
    _login(again, user.email)
    assert again.post("/login/two-factor", data={"code": code}).status_code == 200
    assert again.post("/login/two-factor", data={"code": codes[0]}).status_code == 302
    other = app.test_client()
    _login(other, user.email)
    assert other.post("/login/two-factor", data={"code": codes[0]}).status_code == 200
    (used,) = _events("user.recovery_code_used")
    assert used.details["remaining"] == 9


def test_an_admin_resets_a_lost_authenticator(app, make_user, actor_for):
    app.config["TWO_FACTOR_REQUIRED"] = True
    user = make_user("counsel")
    client = app.test_client()
    _login(client, user.email)
    _enrol(client)
    operations.reset_two_factor(actor_for("admin"), user)
    db.session.commit()
    assert client.get("/cases/").status_code == 302  # sessions ended with the reset
    assert not user.two_factor_enabled
    assert [e.action for e in _events("user.two_factor_reset")] == ["user.two_factor_reset"]


def test_two_factor_is_required_in_production_for_counsel_and_admin_only(app, make_user):
    counsel, analyst = make_user("counsel"), make_user("analyst")
    assert not operations.two_factor_required(counsel)  # testing: off unless asked
    app.config["ENV"] = "production"
    assert operations.two_factor_required(counsel) and not operations.two_factor_required(analyst)


def test_production_answers_carry_hsts(app_config, monkeypatch):
    from compliance import create_app

    monkeypatch.setenv("COMPLIANCE_SECRET_KEY", "s" * 64)
    production = create_app({**app_config, "TESTING": False, "ENV": "production"})
    response = production.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    development = create_app(app_config)
    assert "Strict-Transport-Security" not in development.test_client().get("/login").headers


def test_sessions_live_in_the_database(app, make_user):
    user = make_user("analyst")
    _login(app.test_client(), user.email)
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert record.revoked_at is None and len(record.token_hash) == 64


def test_a_second_pending_grant_is_refused(app, make_user, actor_for):
    admin = actor_for("admin")
    user = make_user("analyst")
    operations.set_role(admin, user, "counsel")
    with pytest.raises(Conflict):
        operations.set_role(admin, user, "admin")
