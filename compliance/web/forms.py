"""Form pages' shared helper: an operation's refusal shown on the form that was posted."""

from __future__ import annotations

from typing import Any

from flask import flash

from compliance.errors import OperationError


def show_refusal(form: Any, error: OperationError) -> None:
    """Put a refusal's details on the fields they name; the message goes to the top.

    `details` is the operation's `{field: message}`; a name like `exhibits.0` goes on its
    form field (`exhibits`). Details without a field of their own on `form` (lists such as
    exhibits, chronology or parties, or no form at all) are added to the flashed message, so
    none is lost. A 403 is raised again: a page the user may not use is an error page, not
    a form to correct.
    """
    if error.status == 403:
        raise error
    details = error.details if isinstance(error.details, dict) else {}
    elsewhere = []
    for name, message in details.items():
        field = getattr(form, name.split(".")[0], None) if form is not None else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
        else:
            elsewhere.append(f"{name.replace('_', ' ')}: {message}")
    flash("; ".join([error.message, *elsewhere]), "error")
