"""Signatory profiles: who signs a final packet, who certifies its records (the custodian),
and the person behind an actor label as a packet prints them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import diff, record
from compliance.errors import InvalidInput, PermissionDenied
from compliance.extensions import db
from compliance.packets import context as ctx
from compliance.packets.composition import Composition
from compliance.packets.models import SignatoryProfile

PROFILE_FIELDS = (
    "full_name",
    "title",
    "organisation",
    "postal_address",
    "phone",
    "email",
    "bar_admission",
    "records_custodian",
    "custodian_qualification",
)
REQUIRED_PROFILE_FIELDS = ("full_name", "title", "organisation", "postal_address", "phone", "email")


def signatory_profile(user_id: int | None) -> SignatoryProfile | None:
    if user_id is None:
        return None
    return db.session.scalar(select(SignatoryProfile).where(SignatoryProfile.user_id == user_id))


def set_signatory_profile(user: Any, actor: Actor, fields: dict[str, Any]) -> SignatoryProfile:
    """Create or change a person's signatory profile; each person keeps their own.

    Claiming to be a records custodian is the person's own statement, so nobody (not even an
    admin) makes it for someone else; the operator may, as for everything.
    """
    if not actor.is_operator and actor.user_id != user.id:
        raise PermissionDenied("a signatory profile is kept by the person who signs")
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput("unknown field(s): " + ", ".join(sorted(unknown)))
    profile = signatory_profile(user.id)
    before = profile.as_dict() if profile else {}
    clean = {
        k: (bool(v) if k == "records_custodian" else " ".join(str(v or "").split()))
        for k, v in fields.items()
    }
    if "postal_address" in fields:  # keep the lines of an address
        clean["postal_address"] = "\n".join(
            line.strip()
            for line in str(fields["postal_address"] or "").splitlines()
            if line.strip()
        )
    blank = {k: False if k == "records_custodian" else "" for k in PROFILE_FIELDS}
    merged = {**blank, **{k: v for k, v in before.items() if k in blank}, **clean}
    errors = {k: "required" for k in REQUIRED_PROFILE_FIELDS if not merged.get(k)}
    limits = {"full_name": 200, "title": 200, "organisation": 200, "phone": 50, "email": 254}
    errors |= {
        k: f"at most {n} characters" for k, n in limits.items() if len(merged.get(k) or "") > n
    }
    if merged.get("email") and "@" not in merged["email"]:
        errors["email"] = "an e-mail address"
    if merged.get("records_custodian") and not merged.get("custodian_qualification"):
        errors["custodian_qualification"] = (
            "say how you are a custodian or otherwise qualified to certify the records"
        )
    if errors:
        raise InvalidInput("the signatory profile is not complete", details=errors)
    if profile is None:
        profile = SignatoryProfile(user_id=user.id)
        db.session.add(profile)
    for key in PROFILE_FIELDS:
        setattr(profile, key, merged[key])
    db.session.flush()
    db.session.refresh(profile)
    after = profile.as_dict()
    record(
        "packet.signatory_profile_set",
        actor=actor,
        object_type="user",
        object_id=user.id,
        changes=diff(before, after),
    )
    return profile


def _person(profile: SignatoryProfile | None) -> ctx.Person | None:
    if profile is None:
        return None
    return ctx.Person(
        full_name=profile.full_name,
        title=profile.title,
        organisation=profile.organisation,
        postal_address=profile.postal_address,
        phone=profile.phone,
        email=profile.email,
        bar_admission=profile.bar_admission,
        qualification=profile.custodian_qualification,
    )


def _custodian(composition: Composition) -> SignatoryProfile | None:
    from compliance.auth.operations import find_user

    if not composition.custodian:
        return None
    user = find_user(composition.custodian)
    profile = signatory_profile(user.id if user else None)
    return profile if profile is not None and profile.records_custodian else None


def _user_of(label: str) -> Any:
    """The user behind an actor label (`user:<email>`), or None for any other actor."""
    from compliance.auth.operations import find_user

    return find_user(label.removeprefix("user:")) if label.startswith("user:") else None


def _person_name(label: str) -> str:
    """A person as printed: their name, not the audit label `user:<email>`.

    Not `auth.people.display_name`: printed names feed a packet's inputs hash, and a final
    must match the preview counsel approved, so they print exactly as they always have.
    """
    user = _user_of(label)
    return user.name if user is not None else label
