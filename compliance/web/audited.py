"""Audited reads: GET pages that write custody or audit records (an item's page, a download).

Two rules for them:
- Another site cannot make a signed-in user's browser perform one. A cross-site top-level
  navigation carries the SameSite=Lax session cookie, so one link (or a page of 16 hidden
  navigations) could add "viewed" and "exported" events under an auditor's name. Browsers say
  where a request comes from in `Sec-Fetch-Site`; older ones leave it out, and then the
  `Referer` (which our pages send to our own origin only) must not name another origin.
  A refused request gets a page with a link to the same address: following it is a
  same-origin request, so a link from a mail client still works after one click.
- On SQLite the request takes the write lock when its transaction begins (as POSTs and the
  scheduler's jobs do), so a burst of reads beside writers queue on the busy timeout instead
  of failing with "database is locked" when they upgrade a read snapshot to a write.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import render_template, request

from compliance.db import writing_work

ALLOWED_SITES = {"same-origin", "none"}  # "none": typed, bookmarked, or opened from a file


def cross_site() -> bool:
    """True when this request was started by another site (or a sibling subdomain)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ALLOWED_SITES
    referrer = request.headers.get("Referer")
    if not referrer:
        return False
    parts = urlsplit(referrer)
    return (parts.scheme, parts.netloc) != (request.scheme, request.host)


def download_name(name: str) -> str:
    """A file name for Content-Disposition: no quotes, backslashes or control characters
    (Werkzeug quotes and RFC 5987-encodes the rest; this keeps the name unambiguous even for
    clients that parse the header loosely)."""
    cleaned = "".join("_" if ch in '"\\' or ord(ch) < 32 or ord(ch) == 127 else ch for ch in name)
    return cleaned.strip() or "download"


def audited_read(when: Callable[[], bool] | None = None) -> Callable:
    """Decorator for GET views that record the read; `when` limits it to some requests
    (the case page records a read on its notes tab only). `when` may read the request only:
    it runs when the request's first transaction begins."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if when is not None and not when():
                return view(*args, **kwargs)
            if cross_site():
                page = render_template(
                    "errors/cross_site.html", target=request.full_path.rstrip("?")
                )
                return page, 403
            with writing_work():
                return view(*args, **kwargs)

        # compliance.db reads this to begin the request's transaction as a writer.
        wrapped.audited_read = when or True
        return wrapped

    return decorator
