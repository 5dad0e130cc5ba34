"""Users and API tokens: creation, roles, sign-in, token issue and revocation."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select

from compliance.audit.chain import record
from compliance.auth.actor import Actor
from compliance.auth.models import ROLES, TOKEN_SCOPES, ApiToken, User
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound
from compliance.extensions import db

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 12
LOCKOUT_THRESHOLD = 5  # failed sign-ins in a row before the account is locked
LOCKOUT_DURATION = timedelta(minutes=15)
TOKEN_PREFIX = "cmp_"  # noqa: S105 - a public marker, not a secret


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(actor: Actor, email: str, role: str, password: str, name: str = "") -> User:
    """Create a user with a role; the password is hashed with scrypt."""
    require_permission(actor, "user.manage")
    email = email.strip().lower()
    errors = {}
    if not EMAIL_RE.match(email):
        errors["email"] = "not an e-mail address"
    if role not in ROLES:
        errors["role"] = "one of " + ", ".join(ROLES)
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"at least {MIN_PASSWORD_LENGTH} characters"
    if errors:
        raise InvalidInput("cannot create the user", details=errors)
    if find_user(email):
        raise Conflict(f"a user {email} already exists")
    user = User(email=email, role=role, name=name.strip() or email.split("@")[0].title())
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
    )
    return user


def set_password(actor: Actor, user: User, password: str) -> None:
    if actor.user_id != user.id:
        require_permission(actor, "user.manage")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password too short", {"password": f"at least {MIN_PASSWORD_LENGTH}"})
    user.set_password(password)
    user.failed_logins, user.locked_until = 0, None
    db.session.flush()
    record("user.password_set", actor=actor, object_type="user", object_id=user.id)


def set_role(actor: Actor, user: User, role: str) -> None:
    require_permission(actor, "user.manage")
    if role not in ROLES:
        raise InvalidInput("unknown role", {"role": "one of " + ", ".join(ROLES)})
    before = user.role
    user.role = role
    db.session.flush()
    record(
        "user.role_changed",
        actor=actor,
        object_type="user",
        object_id=user.id,
        changes={"role": {"before": before, "after": role}},
    )


def set_active(actor: Actor, user: User, active: bool) -> None:
    require_permission(actor, "user.manage")
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


def authenticate(email: str, password: str, remote_addr: str | None = None) -> User | None:
    """Check a sign-in; failures are audited and lock the account after several in a row."""
    user = find_user(email)
    now = utcnow()
    anonymous = Actor(label=f"anonymous:{remote_addr or 'unknown'}", role=None)
    if user is None or not user.active:
        record(
            "auth.login_failed",
            actor=anonymous,
            object_type="user",
            details={"email": email.strip().lower()[:254], "reason": "unknown or inactive"},
        )
        return None
    if user.locked_until and user.locked_until > now:
        record(
            "auth.login_failed",
            actor=anonymous,
            object_type="user",
            object_id=user.id,
            details={"reason": "account locked"},
        )
        return None
    if not user.check_password(password):
        user.failed_logins += 1
        details = {"reason": "wrong password", "failed_in_a_row": user.failed_logins}
        if user.failed_logins >= LOCKOUT_THRESHOLD:
            user.locked_until = now + LOCKOUT_DURATION
            details["locked_until"] = user.locked_until
        db.session.flush()
        record(
            "auth.login_failed",
            actor=anonymous,
            object_type="user",
            object_id=user.id,
            details=details,
        )
        return None
    user.failed_logins, user.locked_until = 0, None
    db.session.flush()
    record("auth.login", actor=Actor.for_user(user), object_type="user", object_id=user.id)
    return user


def sign_out(actor: Actor) -> None:
    """A user ends their session: recorded like the sign-in."""
    record("auth.logout", actor=actor, object_type="user", object_id=actor.user_id)


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(actor: Actor, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
    """Issue a token; returns the row and the raw token, which is never stored or shown again."""
    require_permission(actor, "token.manage")
    name = name.strip()
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = "1 to 100 characters"
    bad = set(scopes) - set(TOKEN_SCOPES)
    if not scopes or bad:
        errors["scopes"] = "choose from " + ", ".join(TOKEN_SCOPES)
    if errors:
        raise InvalidInput("cannot create the token", details=errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        scopes=sorted(set(scopes)),
        token_hash=_hash_token(raw),
        prefix=raw[:12],
        created_by_id=actor.user_id,
    )
    db.session.add(token)
    db.session.flush()
    record(
        "token.created",
        actor=actor,
        object_type="token",
        object_id=token.id,
        details={"name": name, "scopes": token.scopes, "prefix": token.prefix},
    )
    return token, raw


def revoke_token(actor: Actor, token_id: int) -> ApiToken:
    require_permission(actor, "token.manage")
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        record(
            "token.revoked",
            actor=actor,
            object_type="token",
            object_id=token.id,
            details={"name": token.name},
        )
    return token


def token_from_header(raw: str) -> ApiToken | None:
    """The live token matching a bearer value, compared in constant time; records its use."""
    digest = _hash_token(raw)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    return token
