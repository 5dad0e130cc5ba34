"""What the admin pages ask about people and tokens, as queries."""

from __future__ import annotations

from sqlalchemy import select

from compliance.auth.models import ApiToken, User
from compliance.extensions import db


def all_users() -> list[User]:
    """Every user, by e-mail."""
    return list(db.session.scalars(select(User).order_by(User.email)))


def all_tokens() -> list[ApiToken]:
    """Every API token, the newest first."""
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))
