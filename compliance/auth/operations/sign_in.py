"""Checking a sign-in's e-mail and password, throttling the client that fails, and
auditing failures once per account and window (with the window's total when it ends)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.security import check_password_hash, generate_password_hash

from compliance.actor import Actor
from compliance.audit.chain import PendingEvent, record, record_many
from compliance.auth.models import NO_PASSWORD, SignInFailureWindow, SignInThrottle, User
from compliance.auth.operations.users import find_user
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.extensions import db

# Failed sign-ins from one client on one account before that client must wait; each further
# failure doubles the wait, up to BACKOFF_MAX. Nobody else is slowed down.
THROTTLE_AFTER = 5
BACKOFF_MAX = timedelta(minutes=15)
FAILURE_WINDOW = timedelta(minutes=15)  # failed sign-ins are counted per account and window


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
