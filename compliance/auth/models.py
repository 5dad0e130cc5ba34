"""Users of the system and the API tokens that detectors and scripts use."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from compliance.db import BigId, one_of, utcnow
from compliance.extensions import db

ROLES = ("analyst", "counsel", "auditor", "admin")
PRIVILEGED_ROLES = ("counsel", "admin")  # granting these needs a second admin (or the operator)
TOKEN_SCOPES = ("ingest", "read")
# A role grant waits `pending` until a second admin confirms it or someone cancels it.
GRANT_STATUSES = ("pending", "confirmed", "cancelled")
NO_PASSWORD = "!"  # noqa: S105 - matches no password: the user has not chosen one yet


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Set by an admin (a one-time password) or an invitation: the user chooses their own.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None]
    # Two-factor authentication (TOTP, RFC 6238); recovery codes are stored as SHA-256.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # no code is used twice
    recovery_code_hashes: Mapped[list[str] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (one_of("role", ROLES),)

    # The sign-in session this object was loaded for (set by the user loader, not stored).
    session_token = None
    session_id = None

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """flask-login stores this in the session and the remember cookie: the token of one
        server-side session record, never the user id (so it differs per sign-in and dies
        with the record)."""
        if not self.session_token:
            raise RuntimeError("sign-ins go through auth.operations.start_session")
        return self.session_token

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    @property
    def actor_label(self) -> str:
        return f"user:{self.email}"

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def actor_label(self) -> str:
        return f"token:{self.name}"


class UserSession(db.Model):
    """One sign-in: the browser holds a random token, the database its SHA-256.

    Every request checks the record, so logout, a password or role change, deactivation and
    an admin's "sign out everywhere" end sessions at once on every web process, with nothing
    but the database shared (no Redis needed on one host; PostgreSQL serves several).
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    client: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_user_sessions_user_id_revoked_at", "user_id", "revoked_at"),)


class RoleGrant(db.Model):
    """A request to make someone counsel or admin; a second admin (or the operator) confirms.

    Two accounts an admin controls would otherwise pass the four-eyes rule on approvals.
    """

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # GRANT_STATUSES
    requested_by: Mapped[str] = mapped_column(String(300))
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    __table_args__ = (one_of("role", PRIVILEGED_ROLES), one_of("status", GRANT_STATUSES))


class SignInThrottle(db.Model):
    """Failed sign-ins from one client on one account, with the back-off they earned.

    Keyed on account and client together: an outsider's guesses slow down that outsider, not
    the account's owner signing in from elsewhere.
    """

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime]
    retry_after: Mapped[datetime | None]


class SignInFailureWindow(db.Model):
    """Failed sign-ins on one account (or on unknown e-mails, together) in one time window.

    The audit trail gets one event when a window's first failure happens and one with the
    total when the window has closed: anonymous callers cannot write unbounded events.
    """

    __tablename__ = "sign_in_failure_windows"

    account: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    reported: Mapped[int] = mapped_column(default=0)  # failures already in an audit event
