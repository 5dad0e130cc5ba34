"""Sign-in (password, then a second factor), sign-out, invitations, the account pages, and
the admin pages for users, role grants and API tokens."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from compliance.auth import operations, queries
from compliance.auth.access import current_actor, require
from compliance.auth.forms import (
    EnrolForm,
    LoginForm,
    NewPasswordForm,
    SecondFactorForm,
    TokenForm,
    UserForm,
)
from compliance.auth.models import User
from compliance.errors import OperationError
from compliance.extensions import db, limiter
from compliance.web.transaction import on_refusal, transactional

bp = Blueprint("auth", __name__)

PENDING_KEY = "_pending_sign_in"  # a password checked, the second factor still to come
PENDING_SECONDS = 300
ENROL_KEY = "_totp_enrolment"


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an attacker's link must not bounce a user elsewhere after login."""
    if not target:
        return url_for("web.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.dashboard")
    return target


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _finish_sign_in(user: User, remember: bool, method: str, target: str | None):
    operations.complete_sign_in(
        user,
        remember=remember,
        client=request.remote_addr,
        user_agent=request.user_agent.string,
        method=method,
    )
    session.pop(PENDING_KEY, None)
    login_user(user, remember=remember)
    session["_seen"] = int(time.time())
    return redirect(_safe_next(target))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@transactional
def login():
    form = LoginForm()
    if form.validate_on_submit():
        outcome = operations.authenticate(form.email.data, form.password.data, request.remote_addr)
        user = outcome.user
        if user is not None and user.two_factor_enabled:
            session[PENDING_KEY] = {
                "user_id": user.id,
                "remember": bool(form.remember.data),
                "at": int(time.time()),
                "next": request.args.get("next"),
            }
            return redirect(url_for("auth.login_second_factor"))
        if user is not None:
            return _finish_sign_in(
                user, bool(form.remember.data), "password", request.args.get("next")
            )
        if outcome.retry_after is not None:
            form.password.errors.append(
                "Too many failed attempts from here: wait a little and try again."
            )
        else:
            form.password.errors.append("E-mail or password not recognised.")
    return render_template("auth/login.html", form=form)


@bp.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@transactional
def login_second_factor():
    pending = session.get(PENDING_KEY)
    user = None
    if pending and time.time() - pending.get("at", 0) <= PENDING_SECONDS:
        user = db.session.get(User, pending["user_id"])
    if user is None or not user.active:  # no password checked (or too long ago)
        session.pop(PENDING_KEY, None)
        return render_template("auth/second_factor.html", form=None)
    form = SecondFactorForm()
    if form.validate_on_submit():
        method = operations.check_second_factor(user, form.code.data, request.remote_addr)
        if method is not None:
            return _finish_sign_in(
                user, pending["remember"], f"password and {method}", pending["next"]
            )
        operations.record_second_factor_failure(user, request.remote_addr)
        form.code.errors.append("That code is not valid (or was already used).")
    return render_template("auth/second_factor.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
@transactional
def logout():
    operations.sign_out(current_actor(), current_user.session_id)
    session.clear()  # the pending sign-in and enrolment state too
    logout_user()  # after clear: it marks the remember cookie for deletion
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/no-access")
@login_required
def no_access():
    return render_template("auth/no_access.html")


@bp.route("/invite/<token>", methods=["GET", "POST"])
@transactional
def invitation(token: str):
    """The invited person chooses their password (no admin ever knows it)."""
    user = operations.invited_user(token)
    if user is None:
        return render_template("auth/invitation.html", user=None, form=None), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        operations.accept_invitation(token, form.password.data)
        flash("Your password is set. Sign in with it.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/invitation.html", user=user, form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@transactional
def account_password():
    form = NewPasswordForm()
    if form.validate_on_submit():
        operations.set_password(
            current_actor(), current_user, form.password.data, keep_session=current_user.session_id
        )
        flash("Password changed. Your other sessions were signed out.", "success")
        return redirect(url_for("web.dashboard"))
    return render_template("auth/account_password.html", form=form)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
@transactional
def two_factor():
    """Enrol an authenticator app (TOTP); recovery codes are shown once."""
    user = current_user
    if user.two_factor_enabled:
        return render_template("auth/two_factor.html", enrolled=True, codes=None)
    secret = session.get(ENROL_KEY) or operations.new_totp_secret()
    session[ENROL_KEY] = secret
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = operations.enable_two_factor(current_actor(), user, secret, form.code.data)
        except OperationError as error:
            form.code.errors.append(error.message)
        else:
            session.pop(ENROL_KEY, None)
            return render_template("auth/two_factor.html", enrolled=True, codes=codes)
    page = render_template(
        "auth/two_factor.html",
        enrolled=False,
        form=form,
        secret=secret,
        uri=operations.totp_uri(user, secret),
        required=operations.two_factor_required(user),
    )
    return page, 422 if form.errors else 200


@bp.route("/admin/users", methods=["GET", "POST"])
@require("user.manage")
@transactional
def users():
    form = UserForm()
    invitation_url = None
    if form.validate_on_submit():
        try:
            user = operations.create_user(
                current_actor(), form.email.data, form.role.data, name=form.name.data
            )
            raw = operations.issue_invitation(current_actor(), user)
        except OperationError as error:
            for name, message in (error.details or {}).items():
                getattr(form, name).errors.append(message)
            if not error.details:
                form.email.errors.append(error.message)
        else:
            invitation_url = url_for("auth.invitation", token=raw, _external=True)
            waiting = " It awaits a second admin's confirmation." if not user.active else ""
            flash(f"User {user.email} created.{waiting}", "success")
            form = UserForm(formdata=None)
    return _users_page(form, invitation_url), 422 if form.errors else 200


def _users_page(form: UserForm, invitation_url: str | None = None):
    return render_template(
        "auth/users.html",
        users=queries.all_users(),
        form=form,
        grants=operations.role_grants(),
        sessions=operations.active_session_counts(),
        invitation_url=invitation_url,
        me=current_actor(),
    )


def _user_action(user_id: int, action, message: str):  # noqa: ANN001
    user = db.session.get(User, user_id) or abort(404)
    on_refusal(url_for("auth.users"), keep=())
    result = action(current_actor(), user)
    flash(message.format(user=user, result=result), "success")
    return redirect(url_for("auth.users"))


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@require("user.manage")
@transactional
def toggle_active(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    return _user_action(
        user_id,
        lambda actor, u: operations.set_active(actor, u, not user.active),
        "{user.email} is now " + ("deactivated" if user.active else "active") + ".",
    )


@bp.route("/admin/users/<int:user_id>/sign-out", methods=["POST"])
@require("user.manage")
@transactional
def sign_out_everywhere(user_id: int):
    return _user_action(
        user_id, operations.sign_out_everywhere, "{user.email}: {result} session(s) ended."
    )


@bp.route("/admin/users/<int:user_id>/two-factor/reset", methods=["POST"])
@require("user.manage")
@transactional
def reset_two_factor(user_id: int):
    return _user_action(
        user_id,
        operations.reset_two_factor,
        "{user.email} enrols a new authenticator at the next sign-in.",
    )


@bp.route("/admin/users/<int:user_id>/invitation", methods=["POST"])
@require("user.manage")
@transactional
def reissue_invitation(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    raw = operations.issue_invitation(current_actor(), user)
    flash(f"New invitation for {user.email}; the earlier link no longer works.", "success")
    return _users_page(
        UserForm(formdata=None), url_for("auth.invitation", token=raw, _external=True)
    )


@bp.route("/admin/grants/<int:grant_id>/confirm", methods=["POST"])
@require("user.manage")
@transactional
def confirm_grant(grant_id: int):
    on_refusal(url_for("auth.users"), keep=())
    grant = operations.confirm_grant(current_actor(), operations.get_grant(grant_id))
    flash(f"{grant.user.email} is now {grant.role}.", "success")
    return redirect(url_for("auth.users"))


@bp.route("/admin/grants/<int:grant_id>/cancel", methods=["POST"])
@require("user.manage")
@transactional
def cancel_grant(grant_id: int):
    on_refusal(url_for("auth.users"), keep=())
    grant = operations.cancel_grant(current_actor(), operations.get_grant(grant_id))
    flash(f"Grant of {grant.role} to {grant.user.email} cancelled.", "success")
    return redirect(url_for("auth.users"))


@bp.route("/admin/tokens", methods=["GET", "POST"])
@require("token.manage")
@transactional
def tokens():
    form = TokenForm()
    raw = None
    if form.validate_on_submit():
        _, raw = operations.create_token(current_actor(), form.name.data, form.scopes.data)
        flash("Token created. Copy it now: it will not be shown again.", "success")
    return render_template(
        "auth/tokens.html", tokens=queries.all_tokens(), form=form, raw_token=raw
    )


@bp.route("/admin/tokens/<int:token_id>/revoke", methods=["POST"])
@require("token.manage")
@transactional
def revoke(token_id: int):
    operations.revoke_token(current_actor(), token_id)
    flash("Token revoked.", "success")
    return redirect(url_for("auth.tokens"))
