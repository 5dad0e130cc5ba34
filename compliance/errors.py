"""Errors raised by operations; views, the API and the CLI each present them their own way."""

from __future__ import annotations

from typing import Any


class OperationError(Exception):
    """A business rule refused the request. `status` is the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(OperationError):
    """No valid credentials (API): a missing, malformed, unknown or revoked token."""

    status = 401
    code = "unauthorized"


class PermissionDenied(OperationError):
    status = 403
    code = "forbidden"


class NotFound(OperationError):
    status = 404
    code = "not_found"


class Conflict(OperationError):
    """Someone else changed the record first, or the request contradicts stored data."""

    status = 409
    code = "conflict"


class WorkflowRefused(OperationError):
    """A transition is not allowed from this state, or one of its guards failed."""

    status = 409
    code = "transition_refused"


class InvalidInput(OperationError):
    status = 422
    code = "invalid"


class InsufficientStorage(OperationError):
    """The evidence store could not write (disk full, read-only, I/O error): nothing was kept."""

    status = 507
    code = "insufficient_storage"


class MalformedJSON(OperationError):
    status = 400
    code = "malformed_json"


class BodyTooLarge(OperationError):
    status = 413
    code = "too_large"


class BatchTooLarge(OperationError):
    """More items in one request than a batch may hold (findings, intel objects)."""

    status = 413
    code = "too_large"


class UnsupportedMediaType(OperationError):
    status = 415
    code = "unsupported_media_type"
