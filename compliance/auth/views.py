"""Sign-in, sign-out, and the admin pages for users and API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required, login_user, logout_user
from sqlalchemy import select

from compliance.auth import operations
from compliance.auth.forms import LoginForm, TokenForm, UserForm
from compliance.auth.models import ApiToken, User
from compliance.auth.operations import authenticate
from compliance.auth.permissions import current_actor, require
from compliance.errors import OperationError
from compliance.extensions import db, limiter

bp = Blueprint("auth", __name__)


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


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data, request.remote_addr)
        db.session.commit()
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(
            "E-mail or password not recognised, or the account is locked after repeated failures."
        )
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    operations.sign_out(current_actor())
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/no-access")
@login_required
def no_access():
    return render_template("auth/no_access.html")


@bp.route("/admin/users", methods=["GET", "POST"])
@require("user.manage")
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = operations.create_user(
                current_actor(), form.email.data, form.role.data, form.password.data, form.name.data
            )
        except OperationError as error:
            db.session.rollback()
            for name, message in (error.details or {}).items():
                getattr(form, name).errors.append(message)
        else:
            db.session.commit()
            flash(f"User {user.email} created.", "success")
            return redirect(url_for("auth.users"))
    all_users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("auth/users.html", users=all_users, form=form)


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@require("user.manage")
def toggle_active(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    operations.set_active(current_actor(), user, not user.active)
    db.session.commit()
    flash(f"{user.email} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("auth.users"))


@bp.route("/admin/tokens", methods=["GET", "POST"])
@require("token.manage")
def tokens():
    form = TokenForm()
    raw = None
    if form.validate_on_submit():
        _, raw = operations.create_token(current_actor(), form.name.data, form.scopes.data)
        db.session.commit()
        flash("Token created. Copy it now: it will not be shown again.", "success")
    all_tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("auth/tokens.html", tokens=all_tokens, form=form, raw_token=raw)


@bp.route("/admin/tokens/<int:token_id>/revoke", methods=["POST"])
@require("token.manage")
def revoke(token_id: int):
    operations.revoke_token(current_actor(), token_id)
    db.session.commit()
    flash("Token revoked.", "success")
    return redirect(url_for("auth.tokens"))
