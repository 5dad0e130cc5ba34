"""Users and API tokens: creation, roles, sign-in, sessions, two-factor, tokens."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.security import check_password_hash, generate_password_hash

from compliance.actor import Actor
from compliance.audit.chain import PendingEvent, record, record_many
from compliance.auth.models import (
    NO_PASSWORD,
    PRIVILEGED_ROLES,
    ROLES,
    TOKEN_SCOPES,
    ApiToken,
    RoleGrant,
    SignInFailureWindow,
    SignInThrottle,
    User,
    UserSession,
)
from compliance.auth.permissions import require_permission
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from compliance.extensions import db

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 12
# Failed sign-ins from one client on one account before that client must wait; each further
# failure doubles the wait, up to BACKOFF_MAX. Nobody else is slowed down.
THROTTLE_AFTER = 5
BACKOFF_MAX = timedelta(minutes=15)
FAILURE_WINDOW = timedelta(minutes=15)  # failed sign-ins are counted per account and window
INVITATION_VALID = timedelta(days=3)
TOKEN_PREFIX = "cmp_"  # noqa: S105 - a public marker, not a secret
RECOVERY_CODES = 10


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


def set_role(actor: Actor, user: User, role: str) -> RoleGrant | None:
    """Change a user's role; making someone counsel or admin waits for a second admin
    (returns the pending grant). The user's sessions end when the role changes."""
    require_permission(actor, "user.manage")
    if role not in ROLES:
        raise InvalidInput("unknown role", {"role": "one of " + ", ".join(ROLES)})
    if role == user.role:
        return None
    if role in PRIVILEGED_ROLES and not actor.is_operator:
        return _request_grant(actor, user, role)
    _apply_role(actor, user, role)
    return None


def _apply_role(actor: Actor, user: User, role: str) -> None:
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
    _end_sessions(actor, user, "role changed")


def _request_grant(actor: Actor, user: User, role: str) -> RoleGrant:
    pending = db.session.scalar(
        select(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.status == "pending")
    )
    if pending is not None:
        raise Conflict(f"{user.email} already has a grant of {pending.role} awaiting confirmation")
    grant = RoleGrant(
        user=user,
        role=role,
        requested_by=actor.label,
        requested_by_user_id=actor.user_id,
        requested_at=utcnow(),
    )
    db.session.add(grant)
    db.session.flush()
    record(
        "user.role_grant_requested",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"grant_id": grant.id, "role": role, "current_role": user.role},
    )
    return grant


def get_grant(grant_id: int) -> RoleGrant:
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound(f"no role grant {grant_id}")
    return grant


def confirm_grant(actor: Actor, grant: RoleGrant) -> RoleGrant:
    """A second admin (not the one who asked, not the grantee) or the operator confirms."""
    require_permission(actor, "user.manage")
    if grant.status != "pending":
        raise Conflict(f"grant {grant.id} is already {grant.status}")
    if not actor.is_operator and actor.label == grant.requested_by:
        raise PermissionDenied("another admin must confirm a grant you asked for (four-eyes)")
    if actor.user_id is not None and actor.user_id == grant.user_id:
        raise PermissionDenied("nobody confirms a grant to themselves")
    grant.status, grant.decided_by, grant.decided_at = "confirmed", actor.label, utcnow()
    user = grant.user
    db.session.flush()
    record(
        "user.role_grant_confirmed",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"grant_id": grant.id, "role": grant.role, "requested_by": grant.requested_by},
    )
    if not user.active:  # created for this grant: it may now sign in
        user.active = True
        user.role = grant.role
        db.session.flush()
        record(
            "user.activated",
            actor=actor,
            object_type="user",
            object_id=user.id,
            changes={"active": {"before": False, "after": True}},
        )
    elif user.role != grant.role:
        _apply_role(actor, user, grant.role)
    return grant


def cancel_grant(actor: Actor, grant: RoleGrant) -> RoleGrant:
    require_permission(actor, "user.manage")
    if grant.status != "pending":
        raise Conflict(f"grant {grant.id} is already {grant.status}")
    grant.status, grant.decided_by, grant.decided_at = "cancelled", actor.label, utcnow()
    db.session.flush()
    record(
        "user.role_grant_cancelled",
        actor=actor,
        object_type="user",
        object_id=grant.user_id,
        details={"grant_id": grant.id, "role": grant.role},
    )
    return grant


def role_grants() -> list[RoleGrant]:
    return list(db.session.scalars(select(RoleGrant).order_by(RoleGrant.id.desc()).limit(200)))


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


# ---------------------------------------------------------------- sessions
def _start_session(
    user: User, *, remember: bool, client: str | None = None, user_agent: str | None = None
) -> UserSession:
    """Open a session record for a completed sign-in; the user object carries its token."""
    raw = secrets.token_urlsafe(32)
    config = current_app.config
    lifetime = (
        timedelta(days=config["REMEMBER_DAYS"])
        if remember
        else timedelta(hours=config["SESSION_LIFETIME_HOURS"])
    )
    record_ = UserSession(
        user_id=user.id,
        token_hash=token_digest(raw),
        remember=remember,
        created_at=utcnow(),
        expires_at=utcnow() + lifetime,
        client=(client or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(record_)
    db.session.flush()
    user.session_token, user.session_id = raw, record_.id
    return record_


def session_user(raw: str) -> tuple[User, UserSession] | None:
    """The active user of a live session token (one query), or None."""
    row = db.session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == token_digest(raw))
    ).first()
    if row is None:
        return None
    user, session_record = row
    if session_record.revoked_at is not None or session_record.expires_at <= utcnow():
        return None
    if not user.active:
        return None
    user.session_token, user.session_id = raw, session_record.id
    return user, session_record


def _end_sessions(actor: Actor, user: User, reason: str, keep: int | None = None) -> int:
    query = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason[:200])
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    return db.session.execute(query).rowcount or 0


def sign_out_everywhere(actor: Actor, user: User) -> int:
    """An admin (or the user) ends every session of the user at once."""
    if actor.user_id != user.id:
        require_permission(actor, "user.manage")
    ended = _end_sessions(actor, user, "signed out everywhere")
    record(
        "user.sessions_ended",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"sessions": ended},
    )
    return ended


def active_session_counts() -> dict[int, int]:
    now = utcnow()
    rows = db.session.execute(
        select(UserSession.user_id, func.count())
        .where(UserSession.revoked_at.is_(None), UserSession.expires_at > now)
        .group_by(UserSession.user_id)
    )
    return {user_id: count for user_id, count in rows}


# ---------------------------------------------------------------- sign-in
_dummy_hash: str | None = None


def _spend_password_check(password: str) -> None:
    """The same scrypt work as a real check, for e-mails with no usable account: the answer's
    timing must not tell an outsider which e-mails have accounts."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash(secrets.token_hex(16), method="scrypt")
    check_password_hash(_dummy_hash, password)


def _throttle_key(account: str, client: str | None) -> str:
    return token_digest(f"{account}|{client or 'unknown'}")


def _window_start(now: datetime) -> datetime:
    seconds = int(FAILURE_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)


@dataclass
class SignIn:
    """What a sign-in attempt came to: the user, or why not."""

    user: User | None
    retry_after: datetime | None = None


def _record_failure(account: str, user: User | None, key: str, now: datetime, reason: str) -> None:
    """Back off this client on this account; count the failure in its window, auditing the
    window's first failure at once (later ones are counted, and totalled when it closes)."""
    throttle = db.session.get(SignInThrottle, key)
    if throttle is None:
        throttle = SignInThrottle(key=key, failures=0, last_failed_at=now)
        db.session.add(throttle)
    throttle.failures += 1
    throttle.last_failed_at = now
    if throttle.failures >= THROTTLE_AFTER:
        wait = timedelta(seconds=2 ** min(throttle.failures - THROTTLE_AFTER, 10))
        throttle.retry_after = now + min(wait, BACKOFF_MAX)
    start = _window_start(now)
    dialect = db.session.get_bind().dialect.name
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert_(SignInFailureWindow).values(
        account=account, window_start=start, failures=1, reported=0
    )
    count = db.session.scalar(
        statement.on_conflict_do_update(
            index_elements=["account", "window_start"],
            set_={"failures": SignInFailureWindow.failures + 1},
        ).returning(SignInFailureWindow.failures)
    )
    if count == 1:
        db.session.execute(
            update(SignInFailureWindow)
            .where(
                SignInFailureWindow.account == account,
                SignInFailureWindow.window_start == start,
            )
            .values(reported=1)
        )
        record(
            "auth.login_failed",
            actor=Actor(label="anonymous", role=None),
            object_type="user",
            object_id=user.id if user else None,
            details={
                "account": account,
                "reason": reason,
                "window_start": start,
                "window_minutes": int(FAILURE_WINDOW.total_seconds() // 60),
                "note": "first failure of this window; the window's total follows when it ends",
            },
        )


def report_closed_windows(now: datetime | None = None, limit: int = 50) -> int:
    """Audit the totals of failure windows that have ended (one event per account and window)."""
    start = _window_start(now or utcnow())
    closed = list(
        db.session.scalars(
            select(SignInFailureWindow)
            .where(
                SignInFailureWindow.window_start < start,
                SignInFailureWindow.failures > SignInFailureWindow.reported,
            )
            .order_by(SignInFailureWindow.window_start)
            .limit(limit)
        )
    )
    if not closed:
        return 0
    events = []
    for window in closed:
        events.append(
            PendingEvent(
                "auth.login_failures_counted",
                object_type="user",
                object_id=window.account.removeprefix("user:")
                if window.account.startswith("user:")
                else None,
                details={
                    "account": window.account,
                    "window_start": window.window_start,
                    "window_end": window.window_start + FAILURE_WINDOW,
                    "failures": window.failures,
                },
            )
        )
        window.reported = window.failures
    db.session.flush()
    record_many(events, actor=Actor(label="system:sign-in-monitor", role=None))
    return len(events)


def authenticate(
    email: str, password: str, remote_addr: str | None = None, *, now: datetime | None = None
) -> SignIn:
    """Check a sign-in's e-mail and password.

    Unknown e-mails cost the same password work as known ones. Failures slow down the client
    that makes them on that account only (doubling waits after five), and are audited once
    per account and window with a count, so guessing cannot fill the audit trail.
    """
    now = now or utcnow()
    report_closed_windows(now)
    user = find_user(email)
    usable = user is not None and user.active and user.password_hash != NO_PASSWORD
    account = f"user:{user.id}" if user is not None else "unknown"
    key = _throttle_key(account if user is not None else email.strip().lower(), remote_addr)
    throttle = db.session.get(SignInThrottle, key)
    if throttle is not None and throttle.retry_after and throttle.retry_after > now:
        _spend_password_check(password)
        return SignIn(None, retry_after=throttle.retry_after)
    if not usable:
        _spend_password_check(password)
        _record_failure(account, user, key, now, "unknown, inactive or not set up")
        return SignIn(None)
    if not user.check_password(password):
        _record_failure(account, user, key, now, "wrong password")
        return SignIn(None)
    if throttle is not None:
        db.session.delete(throttle)
    db.session.flush()
    return SignIn(user)


def complete_sign_in(
    user: User, *, remember: bool, client: str | None, user_agent: str | None, method: str
) -> UserSession:
    """Every factor checked: open the session and audit the sign-in."""
    session_record = _start_session(user, remember=remember, client=client, user_agent=user_agent)
    record(
        "auth.login",
        actor=Actor.for_user(user),
        object_type="user",
        object_id=user.id,
        details={"session_id": session_record.id, "remember": remember, "method": method},
    )
    return session_record


def sign_out(actor: Actor, session_id: int | None = None) -> None:
    """A user ends their session: the record is revoked (the cookie is then worthless)."""
    if session_id is not None:
        db.session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="signed out")
        )
    record(
        "auth.logout",
        actor=actor,
        object_type="user",
        object_id=actor.user_id,
        details={"session_id": session_id},
    )


# ---------------------------------------------------------------- two-factor (TOTP)
def two_factor_required(user: User) -> bool:
    """Counsel and admins must use a second factor in production (configurable)."""
    required = current_app.config.get("TWO_FACTOR_REQUIRED")
    if required is None:
        required = current_app.config["ENV"] == "production"
    return bool(required) and user.role in current_app.config["TWO_FACTOR_ROLES"]


def new_totp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    import pyotp

    issuer = current_app.config.get("TWO_FACTOR_ISSUER", "Distillation cases")
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def _totp_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step a code matches (one step of clock drift either way), never a used one."""
    import pyotp

    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    step_now = int(now.timestamp()) // totp.interval
    for step in (step_now - 1, step_now, step_now + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _new_recovery_codes() -> tuple[list[str], list[str]]:
    codes = [
        "-".join(secrets.token_hex(2) + secrets.token_hex(2) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]
    return codes, [token_digest(code) for code in codes]


def enable_two_factor(
    actor: Actor, user: User, secret: str, code: str, now: datetime | None = None
) -> list[str]:
    """Turn TOTP on after the user proved their authenticator works; returns recovery codes
    (shown once; only their hashes are kept)."""
    if actor.user_id != user.id:
        raise PermissionDenied("each person enrols their own authenticator")
    step = _totp_step(secret, code, now or utcnow(), None)
    if step is None:
        raise InvalidInput("that code does not match", details={"code": "the current 6 digits"})
    codes, hashes = _new_recovery_codes()
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = secret, utcnow(), step
    user.recovery_code_hashes = hashes
    db.session.flush()
    record("user.two_factor_enabled", actor=actor, object_type="user", object_id=user.id)
    return codes


def check_second_factor(
    user: User, code: str, client: str | None = None, now: datetime | None = None
) -> str | None:
    """The method ('totp' or 'recovery code') when `code` passes, else None; a recovery code
    works once; a TOTP code never twice; a client backing off after failures is not heard."""
    now = now or utcnow()
    if not user.two_factor_enabled:
        return None
    throttle = db.session.get(SignInThrottle, _throttle_key(f"user:{user.id}", client))
    if throttle is not None and throttle.retry_after and throttle.retry_after > now:
        return None
    step = _totp_step(user.totp_secret or "", code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        db.session.flush()
        return "totp"
    digest = token_digest((code or "").strip().lower())
    if digest in (user.recovery_code_hashes or []):
        user.recovery_code_hashes = [h for h in user.recovery_code_hashes if h != digest]
        db.session.flush()
        record(
            "user.recovery_code_used",
            actor=Actor.for_user(user),
            object_type="user",
            object_id=user.id,
            details={"remaining": len(user.recovery_code_hashes)},
        )
        return "recovery code"
    return None


def record_second_factor_failure(user: User, client: str | None) -> None:
    """A wrong second-factor code counts like a wrong password (back-off, windowed audit)."""
    account = f"user:{user.id}"
    _record_failure(account, user, _throttle_key(account, client), utcnow(), "wrong code")


def reset_two_factor(actor: Actor, user: User) -> None:
    """An admin clears a lost authenticator; the user enrols again at the next sign-in."""
    require_permission(actor, "user.manage")
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = None, None, None
    user.recovery_code_hashes = []
    db.session.flush()
    record("user.two_factor_reset", actor=actor, object_type="user", object_id=user.id)
    _end_sessions(actor, user, "two-factor reset")


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
        token_hash=token_digest(raw),
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
    digest = token_digest(raw)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    return token
