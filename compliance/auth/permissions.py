"""The one permission check: which roles may do what. Views, API and CLI all ask here.

(The views' decorator and the signed-in actor are in compliance.auth.access.)
"""

from __future__ import annotations

from typing import Any

from compliance.actor import Actor

ANALYST, COUNSEL, AUDITOR, ADMIN = "analyst", "counsel", "auditor", "admin"

PERMISSIONS: dict[str, frozenset[str]] = {
    "case.view": frozenset({ANALYST, COUNSEL, AUDITOR}),
    "case.create": frozenset({ANALYST, COUNSEL}),
    "case.edit": frozenset({ANALYST, COUNSEL}),
    "note.add": frozenset({ANALYST, COUNSEL}),
    "note.privileged": frozenset({COUNSEL}),
    "hold.manage": frozenset({COUNSEL}),
    "case.merge": frozenset({COUNSEL}),
    "case.delete": frozenset({ADMIN}),
    "evidence.add": frozenset({ANALYST, COUNSEL}),
    "evidence.download": frozenset({ANALYST, COUNSEL, AUDITOR}),
    "clause.link": frozenset({ANALYST, COUNSEL}),
    "policy.view": frozenset({ANALYST, COUNSEL, AUDITOR, ADMIN}),
    "policy.sync": frozenset({ADMIN}),
    "policy.review": frozenset({COUNSEL, ADMIN}),
    "review.complete": frozenset({ANALYST, COUNSEL}),
    "packet.build": frozenset({COUNSEL}),
    "packet.send": frozenset({COUNSEL}),  # record that a final packet went out
    "packet.view": frozenset({ANALYST, COUNSEL, AUDITOR}),
    # Notices after sending: follow them up (acknowledgments, answers, identifiers); the
    # notice workflow's table says which moves need counsel (compliance.notices.operations).
    "notice.view": frozenset({ANALYST, COUNSEL, AUDITOR}),
    "notice.manage": frozenset({ANALYST, COUNSEL}),
    # The recipients directory: everyone reads it, admins and counsel maintain it.
    "recipient.view": frozenset({ANALYST, COUNSEL, AUDITOR, ADMIN}),
    "recipient.manage": frozenset({COUNSEL, ADMIN}),
    "audit.view": frozenset({COUNSEL, AUDITOR}),
    "audit.export": frozenset({AUDITOR}),
    "user.manage": frozenset({ADMIN}),
    "token.manage": frozenset({ADMIN}),
    "intel.export": frozenset({COUNSEL}),
    "intel.import": frozenset({ANALYST, COUNSEL}),
    # TAXII: our collections, partners' tokens, partners' servers we pull from and push to.
    "intel.partners": frozenset({COUNSEL}),
}


def can(who: Any, permission: str) -> bool:
    """True when `who` (an Actor or a User) holds `permission`."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    if isinstance(who, Actor):
        return who.is_operator or who.role in PERMISSIONS[permission]
    if who is None or not getattr(who, "is_authenticated", False):
        return False
    return who.role in PERMISSIONS[permission]


def require_permission(actor: Actor, permission: str) -> None:
    """For operations: refuse (PermissionDenied, 403) unless the actor holds `permission`."""
    if not can(actor, permission):
        from compliance.errors import PermissionDenied

        raise PermissionDenied(f"{actor.role or 'this token'} may not {permission}")


def __getattr__(name: str) -> object:
    # `require` and `current_actor` moved to compliance.auth.access (Flask-Login stays out of
    # this module, which operations import); the old names resolve for older imports.
    if name in ("require", "current_actor"):
        from importlib import import_module

        return getattr(import_module("compliance.auth.access"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
