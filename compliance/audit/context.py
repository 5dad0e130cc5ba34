"""The request id of the work in progress (a web request, a CLI command, a scheduled job)."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("compliance_request_id", default=None)


def new_request_id(prefix: str = "") -> str:
    """Start a new unit of work and return its id."""
    value = f"{prefix}{uuid.uuid4().hex}"
    _request_id.set(value)
    return value


def current_request_id() -> str | None:
    return _request_id.get()
