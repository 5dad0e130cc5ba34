"""People shown by name: the person behind an actor label (`user:<email>`), for every page.

The audit trail, notes, custody and packets record who acted as a stable label; pages show
the person's name. Names looked up in a request are kept for that request (`flask.g`), and
a page that lists many people looks them all up at once with `display_names`.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, has_app_context
from sqlalchemy import select

from compliance.auth.models import User
from compliance.extensions import db


def _kept() -> dict[str, str]:
    if not has_app_context():
        return {}
    if "people_names" not in g:
        g.people_names = {}
    return g.people_names


def describe(label: str) -> str:
    """A label that is not a person's account, in words (the CLI, the scheduler, a token)."""
    kind, _, who = label.partition(":")
    if kind == "cli":
        return f"{who} (command line)"
    if kind == "system":
        return f"scheduler ({who})"
    if kind == "token":
        return f"API token {who}"
    return label


def display_names(labels: Iterable[str | None], *, query: bool = False) -> dict[str, str]:
    """Names for these labels in one query (`query=True`: run it even when none is needed,
    so a page's query count does not depend on what it lists)."""
    kept = _kept()
    wanted = {
        label.removeprefix("user:")
        for label in labels
        if label and label.startswith("user:") and label not in kept
    }
    if wanted or query:
        rows = db.session.execute(select(User.email, User.name).where(User.email.in_(wanted)))
        for email, name in rows:
            kept[f"user:{email}"] = name or email
    return kept


def display_name(label: str | None) -> str:
    """`user:casey@lab.example` -> `Casey Lindqvist`; other labels in words; None -> an em dash."""
    if not label:
        return "—"
    if not label.startswith("user:"):
        return describe(label)
    kept = _kept()
    if label not in kept:
        display_names([label])
    return kept.get(label, label.removeprefix("user:"))
