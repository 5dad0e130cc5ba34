"""The second factor: TOTP enrolment and checks, one-time recovery codes, an admin's reset."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime

from flask import current_app

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import SignInThrottle, User
from compliance.auth.operations.sessions import _end_sessions
from compliance.auth.operations.sign_in import _record_failure, _throttle_key
from compliance.auth.permissions import require_permission
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.errors import InvalidInput, PermissionDenied
from compliance.extensions import db

RECOVERY_CODES = 10


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
