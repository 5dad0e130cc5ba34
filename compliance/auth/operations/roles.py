"""Roles and their four-eyes grants: making someone counsel or admin waits for a second
admin (or the operator) to confirm."""

from __future__ import annotations

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.models import PRIVILEGED_ROLES, ROLES, RoleGrant, User
from compliance.auth.operations.sessions import _end_sessions
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from compliance.extensions import db


def set_role(actor: Actor, user: User, role: str) -> RoleGrant | None:
    """Change a user's role; making someone counsel or admin waits for a second admin
    (returns the pending grant). The user's sessions end when the role changes."""
    require_permission(actor, "user.manage")
    if role not in ROLES:
        raise InvalidInput("unknown role", {"role": "one of " + ", ".join(ROLES)})
    if role == user.role:
        return None
    if role in PRIVILEGED_ROLES and not actor.is_operator:
        return _request_grant(actor, user, role)
    _apply_role(actor, user, role)
    return None


def _apply_role(actor: Actor, user: User, role: str) -> None:
    before = user.role
    user.role = role
    db.session.flush()
    record(
        "user.role_changed",
        actor=actor,
        object_type="user",
        object_id=user.id,
        changes={"role": {"before": before, "after": role}},
    )
    _end_sessions(actor, user, "role changed")


def _request_grant(actor: Actor, user: User, role: str) -> RoleGrant:
    pending = db.session.scalar(
        select(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.status == "pending")
    )
    if pending is not None:
        raise Conflict(f"{user.email} already has a grant of {pending.role} awaiting confirmation")
    grant = RoleGrant(
        user=user,
        role=role,
        requested_by=actor.label,
        requested_by_user_id=actor.user_id,
        requested_at=utcnow(),
    )
    db.session.add(grant)
    db.session.flush()
    record(
        "user.role_grant_requested",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"grant_id": grant.id, "role": role, "current_role": user.role},
    )
    return grant


def get_grant(grant_id: int) -> RoleGrant:
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound(f"no role grant {grant_id}")
    return grant


def confirm_grant(actor: Actor, grant: RoleGrant) -> RoleGrant:
    """A second admin (not the one who asked, not the grantee) or the operator confirms."""
    require_permission(actor, "user.manage")
    if grant.status != "pending":
        raise Conflict(f"grant {grant.id} is already {grant.status}")
    if not actor.is_operator and actor.label == grant.requested_by:
        raise PermissionDenied("another admin must confirm a grant you asked for (four-eyes)")
    if actor.user_id is not None and actor.user_id == grant.user_id:
        raise PermissionDenied("nobody confirms a grant to themselves")
    grant.status, grant.decided_by, grant.decided_at = "confirmed", actor.label, utcnow()
    user = grant.user
    db.session.flush()
    record(
        "user.role_grant_confirmed",
        actor=actor,
        object_type="user",
        object_id=user.id,
        details={"grant_id": grant.id, "role": grant.role, "requested_by": grant.requested_by},
    )
    if not user.active:  # created for this grant: it may now sign in
        user.active = True
        user.role = grant.role
        db.session.flush()
        record(
            "user.activated",
            actor=actor,
            object_type="user",
            object_id=user.id,
            changes={"active": {"before": False, "after": True}},
        )
    elif user.role != grant.role:
        _apply_role(actor, user, grant.role)
    return grant


def cancel_grant(actor: Actor, grant: RoleGrant) -> RoleGrant:
    require_permission(actor, "user.manage")
    if grant.status != "pending":
        raise Conflict(f"grant {grant.id} is already {grant.status}")
    grant.status, grant.decided_by, grant.decided_at = "cancelled", actor.label, utcnow()
    db.session.flush()
    record(
        "user.role_grant_cancelled",
        actor=actor,
        object_type="user",
        object_id=grant.user_id,
        details={"grant_id": grant.id, "role": grant.role},
    )
    return grant


def role_grants() -> list[RoleGrant]:
    return list(db.session.scalars(select(RoleGrant).order_by(RoleGrant.id.desc()).limit(200)))
