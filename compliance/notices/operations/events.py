"""A notice's history: the events it records, and the files people bring with a step.

Shared by every notice operation: each change appends an event (who, when, from which state
to which, the note, the file kept as evidence on the case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from compliance.actor import Actor
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.evidence.models import EvidenceItem
from compliance.notices.models import Notice, NoticeEvent

ANALYST_OR_COUNSEL = frozenset({"analyst", "counsel"})
COUNSEL = frozenset({"counsel"})


@dataclass(frozen=True)
class Upload:
    """A file a person brings with a step: a proof of sending, a recipient's answer."""

    name: str
    media_type: str
    data: bytes
    description: str = ""


def _store_upload(case: Case, actor: Actor, upload: Upload, description: str) -> EvidenceItem:
    """Keep a file as evidence on the case (hashed server-side, write-once, custody)."""
    from compliance.evidence.operations import add_evidence_file

    return add_evidence_file(
        case,
        actor,
        name=upload.name,
        media_type=upload.media_type,
        data=upload.data,
        description=upload.description.strip() or description,
        correspondence=True,
    )


def _event(
    notice: Notice,
    actor: Actor,
    kind: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    item: EvidenceItem | None = None,
) -> NoticeEvent:
    event = NoticeEvent(
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        occurred_at=occurred_at or utcnow(),
        actor=actor.label,
        actor_name=actor.name or actor.label,
        note=note,
        evidence_item=item,
    )
    notice.events.append(event)
    return event


def _as_datetime(value: date | datetime | None) -> datetime | None:
    """A recorded day as a time: now for today, else noon UTC of that day."""
    if value is None or isinstance(value, datetime):
        return value
    now = utcnow()
    return now if value == now.date() else datetime.combine(value, time(12, 0), tzinfo=UTC)
