"""Accounts: creating users, inviting them to choose a password, setting passwords,
activating and deactivating.

An admin never chooses another person's password: the user is invited and picks their own.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import NO_PASSWORD, PRIVILEGED_ROLES, ROLES, RoleGrant, User
from compliance.auth.operations.roles import _request_grant
from compliance.auth.operations.sessions import _end_sessions
from compliance.auth.permissions import require_permission
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from compliance.extensions import db

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 12
INVITATION_VALID = timedelta(days=3)


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def _check_new_user(email: str, role: str, password: str | None) -> None:
    errors = {}
    if not EMAIL_RE.match(email):
        errors["email"] = "not an e-mail address"
    if role not in ROLES:
        errors["role"] = "one of " + ", ".join(ROLES)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"at least {MIN_PASSWORD_LENGTH} characters"
    if errors:
        raise InvalidInput("cannot create the user", details=errors)
    if find_user(email):
        raise Conflict(f"a user {email} already exists")


def create_user(
    actor: Actor, email: str, role: str, password: str | None = None, name: str = ""
) -> User:
    """Create a user with a role.

    The operator (a shell on the server) may set the first password. An admin may not: the
    user is invited (`issue_invitation`) and chooses their own, so no admin ever knows
    another person's password. Counsel and admin accounts an admin creates stay inactive
    until a second admin confirms the grant.
    """
    require_permission(actor, "user.manage")
    email = email.strip().lower()
    if password is not None and not actor.is_operator:
        raise PermissionDenied(
            "an admin cannot choose another person's password: invite the user instead"
        )
    _check_new_user(email, role, password)
    needs_grant = role in PRIVILEGED_ROLES and not actor.is_operator
    user = User(
        email=email,
        role=role,
        name=name.strip() or email.split("@")[0].title(),
        active=not needs_grant,
        password_hash=NO_PASSWORD,
    )
    if password is not None:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record(
        "user.created",
        actor=actor,
        object_type="user",
        object_id=user.id,
        changes={
            "email": {"before": None, "after": email},
            "role": {"before": None, "after": role},
        },
        details={"awaiting_confirmation": needs_grant},
    )
    if needs_grant:
        _request_grant(actor, user, role)
    return user


def issue_invitation(actor: Actor, user: User) -> str:
    """A one-time link token for the user to choose their own password; shown once."""
    require_permission(actor, "user.manage")
    raw = secrets.token_urlsafe(32)
    user.invite_token_hash = token_digest(raw)
    user.invite_expires_at = utcnow() + INVITATION_VALID
    db.session.flush()
    record(
        "user.invited",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"expires_at": user.invite_expires_at},
    )
    return raw


def invited_user(raw: str) -> User | None:
    """The user a live invitation token belongs to."""
    user = db.session.scalar(select(User).where(User.invite_token_hash == token_digest(raw)))
    if user is None or user.invite_expires_at is None or user.invite_expires_at < utcnow():
        return None
    return user


def accept_invitation(raw: str, password: str) -> User:
    """The invited person chooses their password; the link then stops working."""
    user = invited_user(raw)
    if user is None:
        raise NotFound("this invitation link is unknown, used or expired: ask an admin for another")
    _check_password_rules(password)
    user.set_password(password)
    user.invite_token_hash, user.invite_expires_at = None, None
    user.must_change_password = False
    db.session.flush()
    record(
        "user.invitation_accepted",
        actor=Actor.for_user(user),
        object_type="user",
        object_id=user.id,
    )
    return user


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password too short", {"password": f"at least {MIN_PASSWORD_LENGTH}"})


def set_password(actor: Actor, user: User, password: str, keep_session: int | None = None) -> None:
    """Set a password. Someone else's (an admin's one-time password) must be changed by its
    owner at the next sign-in. Every other session of the user ends."""
    if actor.user_id != user.id:
        require_permission(actor, "user.manage")
    _check_password_rules(password)
    user.set_password(password)
    user.must_change_password = actor.user_id != user.id and not actor.is_operator
    db.session.flush()
    record(
        "user.password_set",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"one_time": user.must_change_password},
    )
    _end_sessions(actor, user, "password changed", keep=keep_session)


def set_active(actor: Actor, user: User, active: bool) -> None:
    require_permission(actor, "user.manage")
    if active and db.session.scalar(
        select(RoleGrant.id).where(RoleGrant.user_id == user.id, RoleGrant.status == "pending")
    ):
        raise Conflict(f"{user.email} awaits a second admin's confirmation of a role grant")
    before = user.active
    user.active = active
    db.session.flush()
    record(
        "user.activated" if active else "user.deactivated",
        actor=actor,
        object_type="user",
        object_id=user.id,
        changes={"active": {"before": before, "after": active}},
    )
    if not active:
        _end_sessions(actor, user, "deactivated")
