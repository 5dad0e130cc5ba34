"""Figures a process keeps briefly: derived from the database, costly, shown on every visit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from compliance.extensions import db


class ProcessCache:
    """Values kept for `ttl` seconds per process and database.

    Any flush in this process that adds, changes or deletes one of the `watched` models drops
    them all at once; other processes see the change within `ttl`.
    """

    def __init__(self, ttl: float, *watched: type) -> None:
        self.ttl, self.watched = ttl, watched
        self._values: dict[tuple[str, str], tuple[float, Any]] = {}
        event.listen(Session, "after_flush", self._forget_on_change)

    def get(self, name: str, compute: Callable[[], Any]) -> Any:
        key = (db.engine.url.render_as_string(hide_password=True), name)
        kept = self._values.get(key)
        if kept is not None and time.monotonic() - kept[0] < self.ttl:
            return kept[1]
        value = compute()
        self._values[key] = (time.monotonic(), value)
        return value

    def _forget_on_change(self, session: Session, flush_context: Any) -> None:
        changed = (*session.new, *session.dirty, *session.deleted)
        if any(isinstance(obj, self.watched) for obj in changed):
            self._values.clear()
