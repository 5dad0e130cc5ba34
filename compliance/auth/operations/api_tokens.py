"""API tokens: issuing (the raw value shown once), revoking, and finding the live token of a
bearer header."""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import TOKEN_SCOPES, ApiToken
from compliance.auth.permissions import require_permission
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.errors import InvalidInput, NotFound
from compliance.extensions import db

TOKEN_PREFIX = "cmp_"  # noqa: S105 - a public marker, not a secret


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
