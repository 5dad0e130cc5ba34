"""Numbers read from the query string: page numbers and ids (UI and API alike)."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.routing import IntegerConverter

# Far past any real list, and small enough that page x per-page stays a 64-bit OFFSET
# (a page number of 20 digits once made SQLite raise instead of answering).
MAX_PAGE = 1_000_000


def page_arg() -> int:
    """?page=N for a screen: 1 when missing or not a number, never past MAX_PAGE."""
    return min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)


_BIGINT = 2**63 - 1  # the largest integer SQLite and PostgreSQL columns hold


def int_arg(name: str) -> int | None:
    """An integer argument compared with a column (an id, a seq), held to the column's range:
    a number no row can have still matches nothing, instead of failing in the driver."""
    value = request.args.get(name, type=int)
    return None if value is None else max(-_BIGINT, min(value, _BIGINT))


class RowIdConverter(IntegerConverter):
    """`<int:...>` in a URL, held to the range of an id column: a larger number is a 404
    (no such row), not an overflow in the database driver."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", _BIGINT)
        super().__init__(*args, **kwargs)
