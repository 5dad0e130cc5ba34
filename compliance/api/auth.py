"""API authentication: a bearer token (header only) or the browser session (with CSRF)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask_login import current_user

from compliance.actor import Actor
from compliance.auth.operations import token_from_header
from compliance.auth.permissions import can
from compliance.errors import PermissionDenied, Unauthorized
from compliance.extensions import csrf

# What a session user needs for each token scope.
SCOPE_PERMISSION = {"ingest": "evidence.add", "read": "case.view"}


def api_actor() -> Actor:
    """Resolve who is calling; raises 401 when nobody valid is."""
    if "api_actor" in g:
        return g.api_actor
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'")
        token = token_from_header(value.strip())
        if token is None:
            raise Unauthorized("the token is not valid or has been revoked")
        g.api_actor = Actor.for_token(token)
    elif current_user.is_authenticated:
        writing = request.method not in ("GET", "HEAD", "OPTIONS")
        if writing and current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()  # a browser session must not be usable cross-site
        g.api_actor = Actor.for_user(current_user)
    else:
        raise Unauthorized("authentication required: send a bearer token")
    return g.api_actor


def api_require(scope: str) -> Callable:
    """Endpoint decorator: a token with `scope`, or a signed-in user with the matching right."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = api_actor()
            if actor.token_id is not None:
                if scope not in actor.scopes:
                    raise PermissionDenied(f"this token lacks the '{scope}' scope")
            elif not can(actor, SCOPE_PERMISSION[scope]):
                raise PermissionDenied(f"your role may not use '{scope}' endpoints")
            return view(*args, **kwargs)

        wrapped.api_scope = scope  # the access-matrix test reads this
        return wrapped

    return decorator


def api_session_require(permission: str) -> Callable:
    """Endpoint decorator for a person's decision: a signed-in user whose role has `permission`.

    Tokens are refused (403) however they are scoped: a token stands for a program (a
    detector, a script), created by an admin, with no role and no printed name, while a legal
    hold or a case's owner and summary are decisions the audit trail must attribute to a
    person. Scripts without a session act through the CLI as a named user (`--as EMAIL`). The
    session is CSRF-checked as for every API write.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = api_actor()
            if actor.token_id is not None:
                raise PermissionDenied(
                    "a token cannot do this: sign in as a user who may (session and CSRF "
                    "token), or use the CLI as that user (--as EMAIL)"
                )
            if not can(actor, permission):
                raise PermissionDenied(f"your role may not do this ({permission})")
            return view(*args, **kwargs)

        wrapped.permission = permission  # the access-matrix test reads this
        wrapped.api_session_only = True  # the OpenAPI document: session only
        return wrapped

    return decorator
