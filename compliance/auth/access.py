"""The signed-in user of a web request: the views' permission decorator and their Actor.

Kept apart from compliance.auth.permissions so that operations, which ask `can` and
`require_permission`, never import Flask-Login.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user

from compliance.actor import Actor
from compliance.auth.permissions import can


def require(permission: str) -> Callable:
    """View decorator: log in first, then 403 unless the user holds `permission`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            from compliance.extensions import login_manager

            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not can(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission  # the access-matrix test reads this
        return wrapped

    return decorator


def current_actor() -> Actor:
    """The Actor for the signed-in user of this request."""
    return Actor.for_user(current_user)
