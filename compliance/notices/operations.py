"""Business rules for the recipients directory and for notices after they are sent.

Every change here goes through one function, writes one audit event in the same transaction
and flushes; the caller (a view, the CLI, a test) commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, WorkflowRefused
from compliance.evidence.models import EvidenceItem
from compliance.extensions import db
from compliance.notices.models import (
    FINAL_NOTICE_STATES,
    IDENTIFIER_KINDS,
    NOTICE_BASES,
    NOTICE_STATES,
    OUTCOMES,
    RECIPIENT_KINDS,
    REFERRAL_STATUSES,
    InformationRequest,
    Notice,
    NoticeEvent,
    NoticeIdentifier,
    Recipient,
)
from compliance.packets.composition import Composition
from compliance.packets.models import Packet

ANALYST_OR_COUNSEL = frozenset({"analyst", "counsel"})
COUNSEL = frozenset({"counsel"})
_ISO_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Upload:
    """A file a person brings with a step: a proof of sending, a recipient's answer."""

    name: str
    media_type: str
    data: bytes
    description: str = ""


# ---------------------------------------------------------------- the recipients directory
RECIPIENT_FIELDS = (
    "name",
    "kind",
    "jurisdiction",
    "subdivision",
    "web_form_url",
    "email",
    "postal_address",
    "agent_name",
    "agent_registration",
    "accepted_bases",
    "in_sharing_community",
    "response_days",
    "notes",
    "active",
)


def _clean_recipient(fields: dict[str, Any], existing: Recipient | None) -> dict[str, Any]:
    """The submitted fields, cleaned; InvalidInput names every bad one."""
    unknown = set(fields) - set(RECIPIENT_FIELDS)
    if unknown:
        raise InvalidInput(
            "unknown recipient fields", details={name: "unknown field" for name in sorted(unknown)}
        )
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        clean[name] = value
    if "name" in clean:
        if not clean["name"]:
            errors["name"] = "the recipient's legal name"
        elif len(clean["name"]) > 300:
            errors["name"] = "at most 300 characters"
        else:
            other = db.session.scalar(
                select(Recipient).where(func.lower(Recipient.name) == clean["name"].lower())
            )
            if other is not None and other is not existing:
                errors["name"] = f"already in the directory (recipient {other.id})"
    if "kind" in clean and clean["kind"] not in RECIPIENT_KINDS:
        errors["kind"] = "one of " + ", ".join(RECIPIENT_KINDS)
    if "jurisdiction" in clean:
        clean["jurisdiction"] = (clean["jurisdiction"] or "").upper()
        if not _ISO_COUNTRY.match(clean["jurisdiction"]):
            errors["jurisdiction"] = "an ISO 3166-1 country code such as US, DE, GB"
    if "subdivision" in clean:
        clean["subdivision"] = (clean["subdivision"] or "").upper() or None
        if clean["subdivision"] and not re.match(r"^[A-Z0-9]{1,3}$", clean["subdivision"]):
            errors["subdivision"] = "an ISO 3166-2 subdivision code such as CA (or empty)"
    if clean.get("web_form_url"):
        url = clean["web_form_url"]
        if len(url) > 500 or not url.startswith("https://") or not urlsplit(url).netloc:
            errors["web_form_url"] = "an https:// address"
    if clean.get("email") and (len(clean["email"]) > 254 or not _EMAIL.match(clean["email"])):
        errors["email"] = "an e-mail address"
    for name, limit in (("agent_name", 300), ("agent_registration", 100)):
        if len(clean.get(name) or "") > limit:
            errors[name] = f"at most {limit} characters"
    if "accepted_bases" in clean:
        bases = clean["accepted_bases"] or []
        if isinstance(bases, str):
            bases = [b.strip() for b in bases.split(",") if b.strip()]
        wrong = [b for b in bases if b not in NOTICE_BASES]
        if wrong:
            errors["accepted_bases"] = "each one of " + ", ".join(NOTICE_BASES)
        clean["accepted_bases"] = [b for b in NOTICE_BASES if b in bases]
    if "response_days" in clean:
        days = clean["response_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
            errors["response_days"] = "business days, 0 to 365"
    for flag in ("in_sharing_community", "active"):
        if flag in clean:
            clean[flag] = bool(clean[flag])
    for text in ("postal_address", "notes", "web_form_url", "email", "agent_name"):
        if text in clean and clean[text] is None:
            clean[text] = ""
    if "agent_registration" in clean and clean["agent_registration"] is None:
        clean["agent_registration"] = ""
    if existing is None:
        for required in ("name", "kind", "jurisdiction"):
            if required not in clean:
                errors.setdefault(required, "required")
        if not (clean.get("email") or clean.get("web_form_url") or clean.get("postal_address")):
            errors["email"] = "give at least one channel: e-mail, web form or postal address"
    if errors:
        raise InvalidInput("the recipient is not valid", details=errors)
    return clean


def create_recipient(actor: Actor, fields: dict[str, Any]) -> Recipient:
    """Add a platform, agency or partner lab to the directory."""
    require_permission(actor, "recipient.manage")
    clean = _clean_recipient(fields, None)
    recipient = Recipient(created_by=actor.label, **clean)
    db.session.add(recipient)
    db.session.flush()
    record(
        "recipient.created",
        actor=actor,
        object_type="recipient",
        object_id=recipient.id,
        details=recipient_json(recipient),
    )
    return recipient


def update_recipient(
    recipient: Recipient,
    actor: Actor,
    fields: dict[str, Any],
    expected_version: int | None = None,
) -> Recipient:
    """Change a directory entry; the audit event lists each change, before and after."""
    require_permission(actor, "recipient.manage")
    if expected_version is not None and expected_version != recipient.version:
        raise Conflict(
            f"recipient {recipient.id} was changed by someone else: reload and edit again"
        )
    clean = _clean_recipient(fields, recipient)
    changes = {}
    for name, value in clean.items():
        before = getattr(recipient, name)
        if before != value:
            changes[name] = {"before": before, "after": value}
            setattr(recipient, name, value)
    if not changes:
        return recipient
    db.session.flush()
    record(
        "recipient.updated",
        actor=actor,
        object_type="recipient",
        object_id=recipient.id,
        changes=changes,
    )
    return recipient


def list_recipients(*, active_only: bool = False, kind: str | None = None) -> list[Recipient]:
    query = select(Recipient).order_by(Recipient.name)
    if active_only:
        query = query.where(Recipient.active)
    if kind:
        query = query.where(Recipient.kind == kind)
    return list(db.session.scalars(query))


def get_recipient(recipient_id: int) -> Recipient:
    recipient = db.session.get(Recipient, recipient_id)
    if recipient is None:
        raise NotFound(f"no recipient {recipient_id}")
    return recipient


def find_recipient(key: str) -> Recipient:
    """A recipient by id or by its exact (case-insensitive) name."""
    if key.isdigit():
        return get_recipient(int(key))
    recipient = db.session.scalar(
        select(Recipient).where(func.lower(Recipient.name) == key.strip().lower())
    )
    if recipient is None:
        raise NotFound(f"no recipient named {key!r}")
    return recipient


def address_composition(composition: Composition) -> Composition:
    """Fill a packet composition from its directory recipient: the name and contact when left
    empty, and whether it is inside the sharing community (the directory decides, so the
    TLP:AMBER check follows the directory entry, not a box ticked per packet)."""
    if composition.recipient_id is None:
        return composition
    recipient = db.session.get(Recipient, composition.recipient_id)
    if recipient is None:
        raise InvalidInput(
            "some packet fields are not valid",
            details={"recipient_id": f"no recipient {composition.recipient_id} in the directory"},
        )
    return composition.model_copy(
        update={
            "recipient": composition.recipient or recipient.name,
            "recipient_contact": composition.recipient_contact or recipient.contact,
            "recipient_in_community": recipient.in_sharing_community,
        }
    )


def recipient_json(r: Recipient) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "jurisdiction": r.jurisdiction,
        "subdivision": r.subdivision,
        "web_form_url": r.web_form_url,
        "email": r.email,
        "postal_address": r.postal_address,
        "agent_name": r.agent_name,
        "agent_registration": r.agent_registration,
        "accepted_bases": list(r.accepted_bases or []),
        "in_sharing_community": r.in_sharing_community,
        "response_days": r.response_days,
        "notes": r.notes,
        "active": r.active,
        "version": r.version,
    }


# ---------------------------------------------------------------- identifiers of the material
def normalise_identifier(kind: str, value: str) -> str:
    """One spelling per identifier so a re-upload matches: case, spacing and a trailing slash
    do not make a different one. Raises InvalidInput for a kind or value that cannot be."""
    if kind not in IDENTIFIER_KINDS:
        raise InvalidInput(
            "unknown identifier kind", details={"kind": "one of " + ", ".join(IDENTIFIER_KINDS)}
        )
    text = " ".join((value or "").split())
    if kind in ("url", "repository"):
        text = text.rstrip("/")
    text = text.casefold()
    if not text:
        raise InvalidInput("an identifier needs a value", details={"value": "empty"})
    if len(text) > 500:
        raise InvalidInput("identifier too long", details={"value": "at most 500 characters"})
    if kind == "file_sha256" and not _SHA256.match(text):
        raise InvalidInput(
            "not a SHA-256", details={"value": f"{text[:80]!r} is not 64 hexadecimal digits"}
        )
    if kind == "url" and not text.startswith(("https://", "http://")):
        raise InvalidInput("not a URL", details={"value": f"{text[:80]!r} is not a web address"})
    return text


def _model_name(repository: str) -> str | None:
    """`owner/name` of a model repository: https://host/owner/name[/...], host/owner/name or
    owner/name."""
    if "://" in repository:
        segments = [s for s in urlsplit(repository).path.split("/") if s]
    else:
        segments = [s for s in repository.split("/") if s]
        if segments and "." in segments[0]:  # a host name first
            segments = segments[1:]
    if len(segments) >= 2:
        return f"{segments[0]}/{segments[1]}"
    return None


def identifiers_from_packet(packet: Packet | None) -> list[tuple[str, str]]:
    """What the packet's composition names as the targeted material, as (kind, value) pairs."""
    if packet is None:
        return []
    stored = packet.request_fields or {}
    found: list[tuple[str, str]] = []
    for url in stored.get("offending_urls") or []:
        found.append(("url", url))
    repository = (stored.get("repository") or "").strip()
    if repository:
        found.append(("repository", repository))
        if model := _model_name(repository):
            found.append(("model_name", model))
    for name in stored.get("files") or []:
        if _SHA256.match(name.strip().lower()):
            found.append(("file_sha256", name))
    pairs: list[tuple[str, str]] = []
    for kind, value in found:
        try:
            pair = (kind, normalise_identifier(kind, value))
        except InvalidInput:
            continue
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def set_identifiers(
    notice: Notice, actor: Actor, pairs: Iterable[tuple[str, str]], note: str = ""
) -> Notice:
    """Replace the identifiers a notice targets (the analyst's edit); audited as added/removed."""
    require_permission(actor, "notice.manage")
    wanted: list[tuple[str, str]] = []
    errors: dict[str, str] = {}
    for index, (kind, value) in enumerate(pairs):
        try:
            pair = (kind, normalise_identifier(kind, value))
        except InvalidInput as error:
            detail = next(iter((error.details or {}).values()), error.message)
            errors[f"identifiers.{index}"] = detail
            continue
        if pair not in wanted:
            wanted.append(pair)
    if errors:
        raise InvalidInput("some identifiers are not valid", details=errors)
    have = {(i.kind, i.value): i for i in notice.identifiers}
    added = [p for p in wanted if p not in have]
    removed = [p for p in have if p not in wanted]
    if not added and not removed:
        return notice
    for pair in removed:
        notice.identifiers.remove(have[pair])
    db.session.flush()  # the unique (notice, kind, value) row may come back in the same call
    for kind, value in added:
        notice.identifiers.append(NoticeIdentifier(kind=kind, value=value, added_by=actor.label))
    summary = f"{len(added)} added, {len(removed)} removed"
    _event(notice, actor, "identifiers", note=(note.strip() or summary))
    db.session.flush()
    record(
        "notice.identifiers_changed",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={
            "added": [list(p) for p in added],
            "removed": [list(p) for p in removed],
        },
    )
    return notice


def notices_matching(kind: str, value: str) -> list[Notice]:
    """Notices that targeted this identifier (the re-upload watch asks here)."""
    value = normalise_identifier(kind, value)
    return list(
        db.session.scalars(
            select(Notice)
            .join(NoticeIdentifier)
            .where(NoticeIdentifier.kind == kind, NoticeIdentifier.value == value)
            .order_by(Notice.id)
        ).unique()
    )


# ---------------------------------------------------------------- sending: a notice is born
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


def record_notice(
    packet: Packet,
    actor: Actor,
    *,
    recipient: Recipient | None,
    recipient_name: str,
    channel: str,
    sent_at: datetime,
    their_reference: str = "",
    proof: Upload | None = None,
    owner_id: int | None = None,
) -> Notice:
    """The notice a packet becomes when it is sent (packets.operations.mark_sent calls this)."""
    their_reference = (their_reference or "").strip()
    if len(their_reference) > 200:
        raise InvalidInput(
            "the sending record is not complete",
            details={"their_reference": "at most 200 characters"},
        )
    case = packet.case
    item = None
    if proof is not None:
        item = _store_upload(
            case,
            actor,
            proof,
            f"Proof of sending packet {packet.id} to {recipient_name} ({channel})",
        )
    notice = Notice(
        case=case,
        packet=packet,
        packet_type=packet.packet_type,
        recipient=recipient,
        recipient_name=recipient_name,
        channel=channel,
        sent_at=sent_at,
        packet_sha256=packet.sha256,
        our_reference="",
        their_reference=their_reference,
        proof=item,
        state="sent",
        owner_id=owner_id or actor.user_id,
        referral_status="submitted" if packet.packet_type == "referral" else None,
        sent_by=actor.label,
    )
    db.session.add(notice)
    db.session.flush()
    notice.our_reference = f"{case.ref}-N{notice.id:04d}"
    _event(notice, actor, "sent", to_state="sent", occurred_at=sent_at, item=item)
    for kind, value in identifiers_from_packet(packet):
        notice.identifiers.append(NoticeIdentifier(kind=kind, value=value, added_by=actor.label))
    db.session.flush()
    record(
        "notice.sent",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=case,
        details={
            "packet_id": packet.id,
            "recipient_id": recipient.id if recipient else None,
            "recipient": recipient_name,
            "channel": channel,
            "sent_at": sent_at,
            "packet_sha256": packet.sha256,
            "our_reference": notice.our_reference,
            "their_reference": their_reference,
            "proof_sha256": item.sha256 if item else None,
            "identifiers": [list(p) for p in identifiers_from_packet(packet)],
        },
    )
    return notice


# ---------------------------------------------------------------- the notice's own workflow
@dataclass(frozen=True)
class NoticeTransition:
    """One move of a notice: from which states, to which, who may, what it needs."""

    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    label: str
    needs_outcome: bool = False
    needs_reason: bool = False
    needs_date: bool = False  # the date the recipient's step happened (a counter-notice's)
    only_after_outcomes: tuple[str, ...] = field(default=())  # from `resolved`: these outcomes


NOTICE_TRANSITIONS: tuple[NoticeTransition, ...] = (
    NoticeTransition(("sent",), "acknowledged", ANALYST_OR_COUNSEL, "Record acknowledgment"),
    NoticeTransition(
        ("sent", "acknowledged"),
        "resolved",
        ANALYST_OR_COUNSEL,
        "Record resolution",
        needs_outcome=True,
    ),
    # A counter-notice follows a removal: while the notice is open, or after it was resolved
    # by removing or disabling the material.
    NoticeTransition(
        ("sent", "acknowledged", "resolved"),
        "counter_notice_received",
        COUNSEL,
        "Record counter-notice",
        needs_date=True,
        only_after_outcomes=("removed", "disabled"),
    ),
    NoticeTransition(
        ("counter_notice_received",), "restored", ANALYST_OR_COUNSEL, "Record restoration"
    ),
    NoticeTransition(
        ("counter_notice_received",), "suit_filed", COUNSEL, "Record suit filed", needs_reason=True
    ),
    NoticeTransition(
        ("sent", "acknowledged", "counter_notice_received"),
        "withdrawn",
        COUNSEL,
        "Withdraw notice",
        needs_reason=True,
    ),
)


def find_notice_transition(source: str, target: str) -> NoticeTransition | None:
    return next((t for t in NOTICE_TRANSITIONS if source in t.sources and t.target == target), None)


def notice_options(notice: Notice, actor: Actor) -> list[NoticeTransition]:
    """The moves this actor may make on the notice now."""
    return [
        t
        for t in NOTICE_TRANSITIONS
        if notice.state in t.sources and actor.has_role(*t.roles) and _blocker(notice, t) is None
    ]


def _blocker(notice: Notice, transition: NoticeTransition) -> str | None:
    if (
        notice.state == "resolved"
        and transition.only_after_outcomes
        and notice.outcome not in transition.only_after_outcomes
    ):
        return (
            f"the notice was resolved as {notice.outcome_label.lower()}: a counter-notice "
            "follows a removal"
        )
    return None


def _as_datetime(value: date | datetime | None) -> datetime | None:
    """A recorded day as a time: now for today, else noon UTC of that day."""
    if value is None or isinstance(value, datetime):
        return value
    now = utcnow()
    return now if value == now.date() else datetime.combine(value, time(12, 0), tzinfo=UTC)


def transition_notice(
    notice: Notice,
    actor: Actor,
    target: str,
    *,
    occurred_at: date | datetime | None = None,
    note: str = "",
    outcome: str | None = None,
    reason: str | None = None,
    their_reference: str | None = None,
    response: Upload | None = None,
    expected_version: int | None = None,
) -> Notice:
    """Move a notice along its workflow (the table above), with the recipient's answer kept."""
    require_permission(actor, "notice.manage")
    if expected_version is not None and expected_version != notice.version:
        raise Conflict(f"notice {notice.id} was changed by someone else: reload it")
    if target not in NOTICE_STATES:
        raise InvalidInput("unknown notice state", details={"state": target})
    transition = find_notice_transition(notice.state, target)
    if transition is None:
        allowed = [t.target for t in NOTICE_TRANSITIONS if notice.state in t.sources]
        raise WorkflowRefused(
            f"a notice that is {notice.state_label.lower()} cannot become "
            f"{NOTICE_STATES[target].lower()}"
            + (f" (it may become: {', '.join(allowed)})" if allowed else "")
        )
    if not actor.has_role(*transition.roles):
        from compliance.errors import PermissionDenied

        raise PermissionDenied(f"{actor.role} may not {transition.label.lower()}")
    if problem := _blocker(notice, transition):
        raise WorkflowRefused(problem)
    note, reason = (note or "").strip(), (reason or "").strip()
    when = _as_datetime(occurred_at) or utcnow()
    errors: dict[str, str] = {}
    if when.tzinfo is None:
        errors["occurred_at"] = "a time with a zone"
    elif when > utcnow():
        errors["occurred_at"] = "cannot be in the future"
    elif when < notice.sent_at.replace(hour=0, minute=0, second=0, microsecond=0):
        errors["occurred_at"] = "cannot be before the notice was sent"
    if transition.needs_outcome and outcome not in OUTCOMES:
        errors["outcome"] = "one of " + ", ".join(OUTCOMES)
    if transition.needs_reason and not reason:
        errors["reason"] = "needs a reason"
    if transition.needs_date and occurred_at is None:
        errors["occurred_at"] = "the date the counter-notice was received"
    if their_reference is not None and len(their_reference.strip()) > 200:
        errors["their_reference"] = "at most 200 characters"
    if errors:
        raise InvalidInput(f"cannot {transition.label.lower()}", details=errors)
    item = None
    if response is not None:
        item = _store_upload(
            notice.case,
            actor,
            response,
            f"{notice.recipient_name}'s answer to notice {notice.our_reference} ({target})",
        )
    before = notice.state
    changes: dict[str, Any] = {"state": {"before": before, "after": target}}
    notice.state = target
    if target == "acknowledged":
        notice.acknowledged_at = when
    elif target == "resolved":
        notice.outcome = outcome
        notice.resolved_at = when
        changes["outcome"] = {"before": None, "after": outcome}
    elif target == "counter_notice_received":
        notice.counter_notice_received_on = when.date()
        notice.resolved_at = None
    elif target in ("restored", "suit_filed"):
        notice.resolved_at = when
    elif target == "withdrawn":
        notice.withdraw_reason = reason
        notice.resolved_at = when
    if their_reference is not None and their_reference.strip() != notice.their_reference:
        changes["their_reference"] = {
            "before": notice.their_reference,
            "after": their_reference.strip(),
        }
        notice.their_reference = their_reference.strip()
    _event(
        notice,
        actor,
        target,
        from_state=before,
        to_state=target,
        occurred_at=when,
        note=reason or note,
        item=item,
    )
    db.session.flush()
    record(
        f"notice.{target}",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes=changes,
        details={
            "occurred_at": when,
            "note": note or None,
            "reason": reason or None,
            "response_sha256": item.sha256 if item else None,
        },
    )
    return notice


def record_response(
    notice: Notice,
    actor: Actor,
    *,
    note: str,
    response: Upload | None = None,
    occurred_at: date | datetime | None = None,
) -> NoticeEvent:
    """The recipient answered without changing the notice's state (a question, a delay)."""
    require_permission(actor, "notice.manage")
    note = (note or "").strip()
    if not note and response is None:
        raise InvalidInput("say what they answered", details={"note": "required"})
    when = _as_datetime(occurred_at) or utcnow()
    item = None
    if response is not None:
        item = _store_upload(
            notice.case,
            actor,
            response,
            f"{notice.recipient_name}'s answer to notice {notice.our_reference}",
        )
    event = _event(notice, actor, "response", occurred_at=when, note=note, item=item)
    db.session.flush()
    record(
        "notice.response",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={
            "occurred_at": when,
            "note": note,
            "response_sha256": item.sha256 if item else None,
        },
    )
    return event


def set_owner(notice: Notice, actor: Actor, owner_id: int) -> Notice:
    """Who follows the notice up (reminders go to them)."""
    from compliance.auth.models import User

    require_permission(actor, "notice.manage")
    user = db.session.get(User, owner_id)
    if user is None or not user.active or user.role not in ("analyst", "counsel"):
        raise InvalidInput("not an owner", details={"owner_id": "an active analyst or counsel"})
    if notice.owner_id == owner_id:
        return notice
    before = notice.owner.email if notice.owner else None
    notice.owner_id = owner_id
    db.session.flush()
    record(
        "notice.owner_changed",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes={"owner": {"before": before, "after": user.email}},
    )
    return notice


# ---------------------------------------------------------------- referral follow-up
def update_referral(
    notice: Notice,
    actor: Actor,
    *,
    agency_case_number: str | None = None,
    assigned_agent: str | None = None,
    referral_status: str | None = None,
) -> Notice:
    """The agency's case number, the agent it assigned, and where the referral stands."""
    require_permission(actor, "notice.manage")
    if notice.packet_type != "referral":
        raise WorkflowRefused("only a referral has an agency case number and agent")
    errors: dict[str, str] = {}
    wanted: dict[str, Any] = {}
    if agency_case_number is not None:
        wanted["agency_case_number"] = agency_case_number.strip()
        if len(wanted["agency_case_number"]) > 100:
            errors["agency_case_number"] = "at most 100 characters"
    if assigned_agent is not None:
        wanted["assigned_agent"] = assigned_agent.strip()
        if len(wanted["assigned_agent"]) > 200:
            errors["assigned_agent"] = "at most 200 characters"
    if referral_status is not None:
        if referral_status not in REFERRAL_STATUSES:
            errors["referral_status"] = "one of " + ", ".join(REFERRAL_STATUSES)
        wanted["referral_status"] = referral_status
    if errors:
        raise InvalidInput("the referral details are not valid", details=errors)
    changes = {
        name: {"before": getattr(notice, name), "after": value}
        for name, value in wanted.items()
        if getattr(notice, name) != value
    }
    if not changes:
        return notice
    for name, change in changes.items():
        setattr(notice, name, change["after"])
    _event(
        notice,
        actor,
        "referral",
        note="; ".join(f"{k.replace('_', ' ')}: {v['after']}" for k, v in changes.items()),
    )
    db.session.flush()
    record(
        "notice.referral_updated",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes=changes,
    )
    return notice


def record_information_request(
    notice: Notice,
    actor: Actor,
    *,
    received_on: date,
    request: str,
    due_on: date | None = None,
) -> InformationRequest:
    """The agency asks for more: recorded, and the referral's status says so."""
    require_permission(actor, "notice.manage")
    if notice.packet_type != "referral":
        raise WorkflowRefused("only an agency's referral receives requests for information")
    request = (request or "").strip()
    errors: dict[str, str] = {}
    if not request:
        errors["request"] = "what the agency asks for"
    if received_on is None:
        errors["received_on"] = "the date it arrived"
    elif received_on > utcnow().date():
        errors["received_on"] = "cannot be in the future"
    if due_on is not None and received_on is not None and due_on < received_on:
        errors["due_on"] = "cannot be before it arrived"
    if errors:
        raise InvalidInput("the request is not complete", details=errors)
    info = InformationRequest(
        received_on=received_on, request=request, due_on=due_on, recorded_by=actor.label
    )
    notice.information_requests.append(info)
    before_status = notice.referral_status
    notice.referral_status = "information_requested"
    _event(
        notice,
        actor,
        "information_requested",
        occurred_at=_as_datetime(received_on),
        note=request,
    )
    db.session.flush()
    record(
        "notice.information_requested",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        changes={"referral_status": {"before": before_status, "after": "information_requested"}},
        details={"request_id": info.id, "received_on": received_on, "due_on": due_on},
    )
    return info


def answer_information_request(
    info: InformationRequest, actor: Actor, packet: Packet
) -> InformationRequest:
    """Record that a supplemental packet (same case, sent) answered the agency's request."""
    require_permission(actor, "notice.manage")
    notice = info.notice
    if info.answered_at is not None:
        raise Conflict(f"request {info.id} was already answered")
    if packet.case_id != notice.case_id or packet.draft or not packet.is_sent:
        raise WorkflowRefused(
            "the answer is a final packet of the same case, recorded as sent to the agency"
        )
    info.answer_packet = packet
    info.answered_at = utcnow()
    notice.referral_status = "under_investigation"
    _event(
        notice,
        actor,
        "information_answered",
        note=f"answered with packet {packet.id} ({packet.bates_range or 'no Bates range'})",
    )
    db.session.flush()
    record(
        "notice.information_answered",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={"request_id": info.id, "packet_id": packet.id, "bates": packet.bates_range},
    )
    return info


# ---------------------------------------------------------------- reading
def get_notice(notice_id: int, case: Case | None = None) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None or (case is not None and notice.case_id != case.id):
        raise NotFound(f"no notice {notice_id}")
    return notice


def get_information_request(request_id: int, notice: Notice) -> InformationRequest:
    info = db.session.get(InformationRequest, request_id)
    if info is None or info.notice_id != notice.id:
        raise NotFound(f"no request {request_id} on notice {notice.id}")
    return info


def notices_for_case(case: Case) -> list[Notice]:
    return list(
        db.session.scalars(select(Notice).where(Notice.case_id == case.id).order_by(Notice.id))
    )


def list_notices(
    *,
    state: str | None = None,
    case: Case | None = None,
    recipient: Recipient | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Notice], int]:
    """Notices, newest first, with the total before paging."""
    query = select(Notice)
    if state:
        if state not in NOTICE_STATES:
            raise InvalidInput("unknown state", details={"state": state})
        query = query.where(Notice.state == state)
    if case is not None:
        query = query.where(Notice.case_id == case.id)
    if recipient is not None:
        query = query.where(Notice.recipient_id == recipient.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Notice.sent_at.desc(), Notice.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query)), total


def unsettled_notices(case: Case) -> list[Notice]:
    """The case's notices that are neither resolved nor withdrawn (closing waits for these)."""
    return [n for n in notices_for_case(case) if n.state not in FINAL_NOTICE_STATES]


def notice_count(case: Case) -> int:
    """Notices sent for the case (the workflow's guard: a notice was sent before closing)."""
    return len(notices_for_case(case))


def unsettled_notice_labels(case: Case) -> list[str]:
    """The case's unsettled notices as "reference (state)", as the closing guard names them."""
    return [f"{n.our_reference} ({n.state_label.lower()})" for n in unsettled_notices(case)]


def next_step(notice: Notice) -> str:
    """What the team waits for next, in words (the case tab and the notice page show it)."""
    return {
        "sent": "await acknowledgment",
        "acknowledged": "await the recipient's decision",
        "counter_notice_received": "restore or file suit within the statutory window",
        "resolved": "monitor for re-uploads",
        "restored": "—",
        "suit_filed": "follow the litigation",
        "withdrawn": "—",
    }.get(notice.state, "")


def notice_json(n: Notice, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": n.id,
        "case_ref": n.case.ref,
        "packet_id": n.packet_id,
        "packet_type": n.packet_type,
        "recipient": n.recipient_name,
        "recipient_id": n.recipient_id,
        "channel": n.channel,
        "sent_at": n.sent_at.isoformat(),
        "packet_sha256": n.packet_sha256,
        "our_reference": n.our_reference,
        "their_reference": n.their_reference,
        "state": n.state,
        "outcome": n.outcome,
        "owner": n.owner.email if n.owner else None,
        "acknowledged_at": n.acknowledged_at.isoformat() if n.acknowledged_at else None,
        "counter_notice_received_on": (
            n.counter_notice_received_on.isoformat() if n.counter_notice_received_on else None
        ),
        "resolved_at": n.resolved_at.isoformat() if n.resolved_at else None,
        "withdraw_reason": n.withdraw_reason,
        "next_step": next_step(n),
    }
    if n.packet_type == "referral":
        body["referral"] = {
            "agency_case_number": n.agency_case_number,
            "assigned_agent": n.assigned_agent,
            "status": n.referral_status,
        }
    if detail:
        body["proof_sha256"] = n.proof.sha256 if n.proof else None
        body["identifiers"] = [{"kind": i.kind, "value": i.value} for i in n.identifiers]
        body["events"] = [
            {
                "kind": e.kind,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "occurred_at": e.occurred_at.isoformat(),
                "actor": e.actor,
                "note": e.note,
                "evidence_sha256": e.evidence_item.sha256 if e.evidence_item else None,
            }
            for e in n.events
        ]
        body["information_requests"] = [
            {
                "id": r.id,
                "received_on": r.received_on.isoformat(),
                "request": r.request,
                "due_on": r.due_on.isoformat() if r.due_on else None,
                "answer_packet_id": r.answer_packet_id,
                "answered_at": r.answered_at.isoformat() if r.answered_at else None,
            }
            for r in n.information_requests
        ]
    return body
