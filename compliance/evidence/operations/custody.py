"""Chain of custody: who collected, preserved, viewed, downloaded or exported an item, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import READ_WINDOW, record
from compliance.auth.permissions import require_permission
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from compliance.evidence.models import (
    CustodyEvent,
    CustodyRepeat,
    EvidenceItem,
)
from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes
from compliance.extensions import db


def _custody(
    item: EvidenceItem,
    action: str,
    actor_label: str,
    actor_name: str,
    actor_role: str | None,
    purpose: str,
    occurred_at: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    event = CustodyEvent(
        item=item,
        action=action,
        actor=actor_label,
        actor_name=actor_name,
        actor_role=actor_role,
        purpose=purpose,
        occurred_at=occurred_at or utcnow(),
        details=details,
    )
    db.session.add(event)
    return event


READ_ACTIONS = frozenset({"viewed", "downloaded", "exported"})


def _recent_read(
    item: EvidenceItem, actor: Actor, action: str, purpose: str
) -> CustodyEvent | None:
    """The same person's same read of this item, for the same purpose, in the last minutes
    (measured from its latest repeat: a read every few minutes stays one event)."""
    since = utcnow() - READ_WINDOW
    return db.session.scalar(
        select(CustodyEvent)
        .outerjoin(CustodyRepeat, CustodyRepeat.custody_event_id == CustodyEvent.id)
        .where(
            CustodyEvent.item_id == item.id,
            CustodyEvent.actor == actor.label,
            CustodyEvent.action == action,
            CustodyEvent.purpose == purpose,
            func.coalesce(CustodyRepeat.last_occurred_at, CustodyEvent.occurred_at) >= since,
        )
        .order_by(CustodyEvent.id.desc())
        .limit(1)
    )


def record_custody(
    item: EvidenceItem,
    actor: Actor,
    action: str,
    purpose: str,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Add one custody event to an item, and its audit event (packets: action 'exported').

    A read repeated by the same person for the same purpose within READ_WINDOW counts on the
    first read's event instead: a page reloaded (or a link replayed) 16 times is one event
    with a count of 16, never 16 events.
    """
    if action in READ_ACTIONS and item.id is not None:
        first = _recent_read(item, actor, action, purpose)
        if first is not None:
            tally = db.session.get(CustodyRepeat, first.id)
            if tally is None:
                tally = CustodyRepeat(custody_event_id=first.id, count=0)
                db.session.add(tally)
            tally.count += 1
            tally.last_occurred_at = utcnow()
            db.session.flush()
            return first
    role = actor.role or ("detector token" if actor.token_id else None)
    event = _custody(item, action, actor.label, actor.name, role, purpose, details=details)
    db.session.flush()
    record(
        f"evidence.{action}",
        actor=actor,
        object_type="evidence_item",
        object_id=item.id,
        case=item.case,
        details={"sha256": item.sha256, "purpose": purpose[:500], **(details or {})},
    )
    return event


def get_item(case: Case, item_id: int) -> EvidenceItem:
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.case_id != case.id:
        raise NotFound(f"no evidence item {item_id} in {case.ref}")
    return item


def record_view(item: EvidenceItem, actor: Actor) -> None:
    """Opening an item's page is a custody event (who looked at the evidence, when)."""
    require_permission(actor, "case.view")
    record_custody(item, actor, "viewed", "reviewed on the case page")


def download_item(item: EvidenceItem, actor: Actor, purpose: str) -> bytes:
    """The item's bytes, checked against their hash; records custody and an audit event."""
    require_permission(actor, "evidence.download")
    purpose = (purpose or "").strip()
    if not purpose:
        raise InvalidInput("say why you download this item", details={"purpose": "required"})
    try:
        data = checked_bytes(blob_store(), item.sha256)
    except BlobDamaged as damage:
        raise Conflict(
            f"evidence item {item.id} is {damage.status} in the store (sha256={item.sha256}); "
            "run `compliance evidence verify`"
        ) from None
    record_custody(item, actor, "downloaded", purpose)  # custody and audit, one each
    return data
