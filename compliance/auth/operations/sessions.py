"""Sessions: opening one when a sign-in is complete, finding the user of a session token,
signing out, ending every session of a user."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import User, UserSession
from compliance.auth.permissions import require_permission
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.extensions import db


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
