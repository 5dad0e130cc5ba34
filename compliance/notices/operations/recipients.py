"""The recipients directory: platforms, agencies and partner labs a notice goes to.

A packet's composition takes its recipient's name, contact and sharing-community membership
from here (`address_composition`, which `compliance.hooks` connects to packets).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.errors import Conflict, InvalidInput, NotFound
from compliance.extensions import db
from compliance.notices.models import NOTICE_BASES, RECIPIENT_KINDS, Recipient
from compliance.packets.composition import Composition

_ISO_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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
