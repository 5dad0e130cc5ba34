"""One transaction rule for requests: commit once when the view succeeds, roll back otherwise.

Operations flush and audit into the session; they never commit. A view that changes data is
wrapped in `@transactional`: when it answers below 400 the request's work is committed (once,
after the view), when it raises or answers 400 or more (a form shown again with its errors)
everything is rolled back.

A form post says where a refusal goes with `on_refusal(url)` once it has loaded what it acts
on: an `OperationError` raised after that is flashed (worded by `refused`) and the browser is
sent back to `url`, as a form post's answer. Statuses in `keep` (403 by default) still show
the error page, as does anything refused before the call (a case that does not exist is a
404 page, not a flash). The JSON API answers with its error format either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import flash, g, make_response, redirect, request

from compliance.errors import OperationError
from compliance.extensions import db


@dataclass(frozen=True)
class _Refusal:
    url: str
    refused: str | Callable[[OperationError], str | list[str]]
    keep: tuple[int, ...]


def transactional(view: Callable[..., Any]) -> Callable[..., Any]:
    """View decorator: commit on success, roll back on an exception or an error answer."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            db.session.rollback()
            raise
        if response.status_code < 400:
            # The page is already rendered: nothing reads the rows after this commit (the
            # session ends with the request), so it need not expire them all.
            session = db.session()
            session.expire_on_commit = False
            session.commit()
        else:
            db.session.rollback()
        return response

    return wrapped


def on_refusal(
    url: str,
    refused: str | Callable[[OperationError], str | list[str]] = "",
    keep: tuple[int, ...] = (403,),
) -> None:
    """From here on, a refused operation is flashed and the form post goes back to `url`.

    `refused` is put before the error's message or, when callable, words the whole flash
    (one message or several).
    """
    g.form_refusal = _Refusal(url, refused, keep)


def refused_form_post(error: OperationError) -> Any | None:
    """The answer to a form post an operation refused: flash and go back; None otherwise."""
    refusal: _Refusal | None = g.get("form_refusal")
    if refusal is None or request.method != "POST" or error.status in refusal.keep:
        return None
    if callable(refusal.refused):
        worded = refusal.refused(error)
        for message in [worded] if isinstance(worded, str) else worded:
            flash(message, "error")
    else:
        flash(f"{refusal.refused}{error.message}", "error")
    return redirect(refusal.url)
