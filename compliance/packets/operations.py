"""Business rules for packets: request, build (render, reserve Bates, sign, store), send.

`request_packet`, `mark_sent` and `download_packet` flush in the caller's transaction like
every operation. `build_packet` is the exception and owns its transactions, because what it
reserves must outlive a failure: it runs in the worker (scheduler or CLI), never in a request.

Bates reservation (why it is shaped like this): the page count is only known after layout,
and the numbers are part of the layout. Holding the counter's row lock for a whole render would
serialise every writer for seconds (on SQLite, the whole database). So a build lays the
document out once with the *expected* first number (the counter's last value + 1; numbers are
fixed width, so the page count does not depend on them), then, in one short transaction that
also records the range on the packet, locks the counter row (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's write lock) and advances it only if it still holds the expected value.
If another build reserved first, the layout is redone with the new offset (rare). Ranges are
therefore continuous and never overlap; a build that fails after its range was committed
records the range as a gap, and the counter never goes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from compliance.actor import Actor
from compliance.audit.chain import READ_WINDOW, diff, record, recorded_since
from compliance.auth.permissions import can, require_permission
from compliance.cases.approval import approval_drift
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied, WorkflowRefused
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.packets import binding, render
from compliance.packets import context as ctx
from compliance.packets.composition import PARTIES, Composition, required_for_final
from compliance.packets.composition import parse as parse_composition
from compliance.packets.models import (
    CHANNELS,
    EXTERNAL_TYPES,
    PACKET_TYPES,
    BatesCounter,
    BatesGap,
    Packet,
    SignatoryProfile,
)

log = logging.getLogger(__name__)

FINAL_STATES = ("approved", "action_taken", "monitoring", "closed")
MAX_LAYOUT_ATTEMPTS = 5
# The demo lab (fictional); a deployment sets PACKET_ORGANISATION in its instance config.
DEFAULT_ORGANISATION = {
    "name": "Meridian AI",
    "department": "Legal Department",
    "address": "500 Howard Street, Suite 1200, San Francisco, CA 94105, USA",
    "place": "San Francisco, California",
    "contact_email": "legal@lab.example",
    "phone": "+1 415 555 0142",
}


def get_packet(packet_id: int, case: Case | None = None) -> Packet:
    packet = db.session.get(Packet, packet_id)
    if packet is None or (case is not None and packet.case_id != case.id):
        raise NotFound(f"no packet {packet_id}" + (f" in {case.ref}" if case else ""))
    return packet


def may_read(packet: Packet, actor: Actor) -> bool:
    """A privileged memo is for those who read privileged notes (counsel); other types for all."""
    return packet.packet_type != "memo" or can(actor, "note.privileged")


def packets_for_case(case: Case, actor: Actor) -> list[Packet]:
    """The case's packets `actor` may see, newest first."""
    packets = db.session.scalars(
        select(Packet).where(Packet.case_id == case.id).order_by(Packet.id.desc())
    )
    return [p for p in packets if may_read(p, actor)]


def sent_packet_types(case: Case) -> set[str]:
    """Types of final packets of this case that are stored and marked sent (workflow guard)."""
    return set(
        db.session.scalars(
            select(Packet.packet_type).where(
                Packet.case_id == case.id,
                Packet.draft.is_(False),
                Packet.status == "stored",
                Packet.sent_on.is_not(None),
            )
        )
    )


# ---------------------------------------------------------------- signatories
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


# ---------------------------------------------------------------- request
def _check_choices(case: Case, packet_type: str, composition: Composition, actor: Actor) -> None:
    """Refuse a composition that names what the packet may not carry (drafts included)."""
    errors: dict[str, str] = {}
    if packet_type != "takedown" and composition.basis:
        errors["basis"] = "only a takedown notice has a legal basis to choose"
    if composition.custodian:
        profile = _custodian(composition)
        if profile is None:
            errors["custodian"] = (
                f"{composition.custodian} has no signatory profile as a records custodian"
            )
        elif actor.user_id is not None and profile.user_id == actor.user_id:
            errors["custodian"] = (
                "counsel who signs the packet does not also certify its records "
                "(advocate-witness rule): name a records custodian"
            )
    if errors:
        raise InvalidInput("some packet fields are not valid", details=errors)
    g = gather_for(case, packet_type, composition, draft=True, with_bytes=False)
    chosen = ctx.selected_evidence(g)  # refuses a restricted or unknown exhibit
    if composition.basis == "copyright" and not any(e.kind == "canary_hit" for e in chosen):
        raise InvalidInput(
            "some packet fields are not valid",
            details={
                "basis": "a copyright notice needs evidence that our work was reproduced "
                "(a canary hit among the exhibits); use the terms-of-service basis otherwise"
            },
        )
    ctx.chronology(g, ())  # refuses an internal entry that is not a step of this case


def request_packet(
    case: Case,
    packet_type: str,
    actor: Actor,
    *,
    draft: bool = True,
    fields: dict[str, Any] | None = None,
    retry_of: Packet | None = None,
) -> Packet:
    """Queue a draft: the preview of a composition, watermarked, with no Bates numbers.

    A final takedown or referral is never requested directly: it is built from a preview
    (`request_final`), so that what counsel saw is what leaves.
    """
    require_permission(actor, "packet.build")
    if packet_type not in PACKET_TYPES:
        raise InvalidInput(f"unknown packet type {packet_type!r}: one of {', '.join(PACKET_TYPES)}")
    if not draft:
        raise WorkflowRefused(
            "a final packet is built from a preview: compose the packet, build its preview "
            "(a draft), then build the final packet from that preview"
        )
    composition = _addressed(parse_composition(fields))
    _check_choices(case, packet_type, composition, actor)
    packet = Packet(
        case=case,
        packet_type=packet_type,
        draft=True,
        status="queued",
        request_fields=composition.stored(),
        template_version=ctx.TEMPLATE_VERSION,
        bates_prefix=None,
        requested_by=actor.label,
        requested_by_name=actor.name or actor.label,
    )
    db.session.add(packet)
    db.session.flush()
    record(
        "packet.requested",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=case,
        details={
            "type": packet_type,
            "draft": True,
            "composition": composition.stored(),
            **({"retry_of": retry_of.id} if retry_of else {}),
        },
    )
    return packet


def check_final(preview: Packet, actor: Actor) -> None:
    """Refuse, saying why, unless a final build from `preview` by `actor` is allowed now."""
    require_permission(actor, "packet.build")
    case = preview.case
    if actor.is_operator:
        raise PermissionDenied(
            "a final packet is signed by a named person: build it as a counsel user "
            "(--as EMAIL); the operator may build drafts only"
        )
    if not preview.draft or preview.status != "stored":
        raise WorkflowRefused(f"packet {preview.id} is not a stored preview (draft)")
    if preview.requested_by != actor.label:
        raise WorkflowRefused(
            f"preview {preview.id} was composed by {preview.requested_by_name}, who would sign "
            "it: the signatory builds the final packet from their own preview"
        )
    outgoing = preview.packet_type in EXTERNAL_TYPES  # a final memo stays in the file
    if outgoing and case.state not in FINAL_STATES:
        raise WorkflowRefused(
            f"{case.ref} is {case.state}: a final {preview.packet_type} needs the case approved "
            "(preview drafts meanwhile)"
        )
    if outgoing and preview.packet_type not in (case.chosen_actions or []):
        raise WorkflowRefused(
            f"{preview.packet_type} was not among the actions approved for {case.ref} "
            f"({', '.join(case.chosen_actions or []) or 'none'})"
        )
    # A change since the approval sends an approved case back to legal review as it happens;
    # checked here too, so a final build never outruns that (after action taken, the approval
    # has been acted on and new evidence does not undo it).
    drift = approval_drift(case) if outgoing and case.state == "approved" else []
    if drift:
        raise WorkflowRefused(
            f"{case.ref} changed since it was approved: counsel approves what leaves",
            details={"changes": [change["what"] for change in drift]},
        )
    profile = signatory_profile(actor.user_id)
    if profile is None:
        raise WorkflowRefused(
            "set up your signatory profile (name, title, organisation, address, phone, e-mail) "
            "before signing a final packet"
        )
    composition = parse_composition(preview.request_fields)
    missing = required_for_final(preview.packet_type, composition)
    if missing:
        raise InvalidInput("the composition is not complete for a final packet", details=missing)
    if preview.packet_type == "referral" and _custodian(composition) is None:
        raise InvalidInput(
            "the composition is not complete for a final packet",
            details={"custodian": f"{composition.custodian} is not a records custodian"},
        )
    g = gather_for(case, preview.packet_type, composition, draft=False, requested_by=actor)
    now = binding.inputs_of(ctx.build_document(g))
    if binding.digest(now) != preview.inputs_sha256:
        raise WorkflowRefused(
            f"the packet's inputs changed since preview {preview.id} was built: build a new "
            "preview and check it",
            details={"changes": binding.changes(preview.inputs or {}, now)},
        )


def request_final(preview: Packet, actor: Actor, *, retry_of: Packet | None = None) -> Packet:
    """Queue the final build of a preview's composition, bound to the preview's inputs."""
    check_final(preview, actor)
    composition = parse_composition(preview.request_fields)
    packet = Packet(
        case=preview.case,
        packet_type=preview.packet_type,
        draft=False,
        status="queued",
        request_fields=preview.request_fields,
        preview_id=preview.id,
        template_version=ctx.TEMPLATE_VERSION,
        bates_prefix=current_app.config["BATES_PREFIX"],
        requested_by=actor.label,
        requested_by_name=actor.name or actor.label,
    )
    db.session.add(packet)
    db.session.flush()
    amber = [
        e["key"]
        for e in (preview.inputs or {}).get("exhibits", [])
        if "TLP:AMBER" in e.get("source", "")
    ]
    record(
        "packet.requested",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=preview.case,
        details={
            "type": packet.packet_type,
            "draft": False,
            "preview_id": preview.id,
            "inputs_sha256": preview.inputs_sha256,
            "recipient": composition.recipient,
            # TLP:AMBER partner material goes out on counsel's word that the recipient is
            # inside the sharing community: that word is recorded here.
            "recipient_in_community": composition.recipient_in_community,
            "amber_exhibits": amber,
            **({"retry_of": retry_of.id} if retry_of else {}),
        },
    )
    return packet


def retry_packet(failed: Packet, actor: Actor) -> Packet:
    """Request a failed build again: a new packet of the same composition (a failed final is
    retried from its preview, under the same checks as any final build)."""
    require_permission(actor, "packet.build")
    if failed.status != "failed":
        raise WorkflowRefused(
            f"packet {failed.id} did not fail ({failed.status}): nothing to retry"
        )
    if failed.draft:
        return request_packet(
            failed.case, failed.packet_type, actor, fields=failed.request_fields, retry_of=failed
        )
    if failed.preview_id is None:
        raise WorkflowRefused(f"packet {failed.id} has no preview to build it from again")
    return request_final(get_packet(failed.preview_id, failed.case), actor, retry_of=failed)


@dataclass(frozen=True)
class ComposeOptions:
    """The choices a composition form offers for one case and packet type."""

    evidence: list[tuple[ctx.Evidence, str | None]]  # candidate, why it may not go (or None)
    entries: list[tuple[str, datetime, str]]  # conduct and notice entries: key, when, text
    steps: list[ctx.Step]  # workflow steps counsel may add, with their internal reasons
    custodians: list[SignatoryProfile]
    copyright_available: bool  # a canary hit shows our own text was reproduced
    amber: bool  # the case holds TLP:AMBER partner material


def _addressed(composition: Composition) -> Composition:
    """A composition addressed to a directory recipient takes its name, contact and
    sharing-community membership (the TLP:AMBER check) from the directory."""
    from compliance.notices.operations import address_composition

    return address_composition(composition)


def compose_options(case: Case, packet_type: str, fields: dict[str, Any]) -> ComposeOptions:
    composition = _addressed(parse_composition(fields))
    g = gather_for(case, packet_type, composition, draft=True, with_bytes=False)
    entries = []
    for e in g.evidence:
        if e.observed_from and e.observed_to:
            entries.append((f"{e.key}:first", e.observed_from, f"First observed: {e.title}"))
            entries.append((f"{e.key}:last", e.observed_to, f"Last observed: {e.title}"))
    for n in g.notices:
        entries.append((n.key, n.when, f"{n.packet_type.title()} sent to {n.recipient}"))
    custodians = db.session.scalars(
        select(SignatoryProfile)
        .where(SignatoryProfile.records_custodian.is_(True))
        .order_by(SignatoryProfile.full_name)
    )
    return ComposeOptions(
        evidence=[(e, ctx.eligibility(g, e)) for e in g.evidence],
        entries=sorted(entries, key=lambda row: (row[1], row[0])),
        steps=list(g.steps),
        custodians=list(custodians),
        copyright_available=any(e.kind == "canary_hit" for e in g.evidence),
        amber=any(e.origin == "partner" and e.tlp == "amber" for e in g.evidence),
    )


@dataclass(frozen=True)
class Review:
    """What counsel checks on a preview before the final build (the redaction review)."""

    packet: Packet
    composition: Composition
    # Every current evidence item: (candidate, its exhibit number here or None, why not allowed).
    exhibits: list[tuple[ctx.Evidence, int | None, str | None]]
    chronology: list[ctx.ChronologyEntry]
    steps: list[ctx.Step]  # workflow steps counsel may add, with their internal reasons
    identifiers: dict[str, list[ctx.Identifier]]  # party -> identifiers, in PARTIES order
    missing: dict[str, str]  # what a final build would still need


def review_composition(packet: Packet) -> Review:
    g = gather(packet)
    context = ctx.build_document(g)
    numbers = {e.key: e.number for e in context["exhibits"]}
    by_party: dict[str, list[ctx.Identifier]] = {party: [] for party in PARTIES}
    for identifier in context["identifiers"]:
        by_party[identifier.party].append(identifier)
    missing = (
        required_for_final(packet.packet_type, g.composition)
        if packet.packet_type in EXTERNAL_TYPES
        else {}
    )
    return Review(
        packet=packet,
        composition=g.composition,
        exhibits=[(e, numbers.get(e.key), ctx.eligibility(g, e)) for e in g.evidence],
        chronology=context["chronology"],
        steps=list(g.steps),
        identifiers=by_party,
        missing=missing,
    )


def composition_review(packet: Packet) -> list[str]:
    """The review as lines of text (the CLI's `packet show`)."""
    r = review_composition(packet)
    kind = "preview (draft)" if packet.draft else "final"
    lines = [
        f"packet {packet.id}: {packet.packet_type} {kind} of {packet.case.ref}, {packet.status}",
        f"inputs sha256={packet.inputs_sha256 or '(not built yet)'}",
        "exhibits (key: number in the packet, or why not):",
    ]
    for evidence, number, why in r.exhibits:
        state = f"exhibit {number}" if number else (why or "left out by the composition")
        lines.append(f"  {evidence.key}: {state} — {evidence.title[:70]}")
    lines.append("chronology (key: entry):")
    for entry in r.chronology:
        lines.append(f"  {entry.key}: {entry.when:%Y-%m-%d %H:%M} {entry.text}")
    lines.append("workflow steps counsel may add (--add-entry KEY=WORDING):")
    for step in r.steps:
        lines.append(f"  {step.key}: {step.when:%Y-%m-%d} {step.what}")
    lines.append("identifiers that will appear, by party (--party IDENTIFIER=PARTY):")
    for party, identifiers in r.identifiers.items():
        for i in identifiers:
            shown = "" if i.shown_as == i.value else f" -> printed as {i.shown_as}"
            lines.append(f"  {party}: {i.type_label} {i.value}{shown}")
    for name, message in r.missing.items():
        lines.append(f"missing for a final build: {name}: {message}")
    return lines


# ---------------------------------------------------------------- gathering facts
def _organisation() -> dict[str, str]:
    return DEFAULT_ORGANISATION | dict(current_app.config.get("PACKET_ORGANISATION") or {})


def _partner_sources(case: Case) -> dict[int, Any]:
    """Findings of `case` derived from partners' intel -> the import they came from."""
    from compliance.intel.models import IntelImport, IntelMatch

    rows = db.session.execute(
        select(IntelMatch.finding_id, IntelImport)
        .join(IntelImport, IntelImport.id == IntelMatch.import_id)
        .join(Finding, Finding.id == IntelMatch.finding_id)
        .where(Finding.case_id == case.id)
    )
    return {finding_id: intel_import for finding_id, intel_import in rows}


def _evidence(case: Case, *, with_bytes: bool) -> list[ctx.Evidence]:
    """One exhibit candidate per finding (its record and attachments) and per uploaded file."""
    from compliance.evidence.models import EvidenceItem
    from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

    items = list(
        db.session.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.case_id == case.id, EvidenceItem.role != "correspondence")
            .order_by(EvidenceItem.id)
        )
    )
    superseded = {i.supersedes_id for i in items if i.supersedes_id}
    current = [i for i in items if i.id not in superseded]
    store = blob_store()
    partners = _partner_sources(case)

    def item_bytes(item: Any) -> bytes:
        if not with_bytes:
            return b""
        try:
            return checked_bytes(store, item.sha256)
        except BlobDamaged as damage:
            raise render.RenderError(
                f"evidence item {item.id} is {damage.status} in the store (sha256={item.sha256})"
            ) from None

    def custody(rows: list[Any]) -> tuple[ctx.CustodyRow, ...]:
        events = sorted(
            (e for item in rows for e in item.custody), key=lambda e: (e.occurred_at, e.id)
        )
        return tuple(
            ctx.CustodyRow(
                when=e.occurred_at,
                action=e.action,
                who=e.actor_name or e.actor,
                role=e.actor_role or "",
                purpose=e.purpose or "",
                details=item_names[e.item_id],
            )
            for e in events
        )

    def file_of(item: Any) -> ctx.ExhibitFile:
        return ctx.ExhibitFile(
            name=item.name,
            sha256=item.sha256,
            size=item.size_bytes,
            media_type=item.media_type,
            data=item_bytes(item),
        )

    item_names = {i.id: i.name for i in current}
    # A finding's items make one exhibit; an uploaded file is one on its own. Exhibits are
    # numbered in the order their first item was collected.
    groups: dict[tuple[str, int], list[Any]] = {}
    for item in current:
        key = ("item", item.id) if item.finding_id is None else ("finding", item.finding_id)
        groups.setdefault(key, []).append(item)

    evidence: list[ctx.Evidence] = []
    for (kind, key_id), group in groups.items():
        if kind == "item":
            (item,) = group
            evidence.append(
                ctx.Evidence(
                    key=f"item:{item.id}",
                    kind="upload",
                    origin="upload",
                    title=item.description or item.name,
                    sha256=item.sha256,
                    date=item.collected_at,
                    received_at=item.created_at,
                    uploaded_by=_uploader_name(item),
                    upload_source=item.source,
                    files=(file_of(item),),
                    custody=custody(group),
                )
            )
            continue
        finding = group[0].finding
        main = next((i for i in group if i.role == "finding_record"), group[0])
        partner = partners.get(finding.id)
        evidence.append(
            ctx.Evidence(
                key=f"finding:{key_id}",
                kind=finding.kind,
                origin="partner" if partner is not None else "detector",
                title=finding.summary,
                sha256=main.sha256,
                date=finding.observed_to,
                received_at=partner.imported_at if partner is not None else finding.ingested_at,
                observed_from=finding.observed_from,
                observed_to=finding.observed_to,
                detector=finding.detector_name,
                detector_version=finding.detector_version,
                partner=partner.source if partner is not None else "",
                tlp=partner.tlp if partner is not None else "",
                summary=finding.summary,
                confidence=finding.confidence,
                severity=finding.severity,
                metrics=tuple(
                    sorted(
                        (str(k), v)
                        for k, v in (finding.metrics or {}).items()
                        if not isinstance(v, dict | list)
                    )
                ),
                subjects=tuple((s.get("type", ""), s.get("id", "")) for s in finding.subjects),
                record=file_of(main),
                files=tuple(file_of(i) for i in group if i is not main),
                custody=custody(group),
            )
        )
    return evidence


def _user_of(label: str) -> Any:
    """The user behind an actor label (`user:<email>`), or None for any other actor."""
    from compliance.auth.operations import find_user

    return find_user(label.removeprefix("user:")) if label.startswith("user:") else None


def _person_name(label: str) -> str:
    """A person as printed: their name, not the audit label `user:<email>`."""
    user = _user_of(label)
    return user.name if user is not None else label


def _uploader_name(item: Any) -> str:
    user = _user_of(item.created_by)
    return f"{user.name} ({user.role})" if user is not None else item.created_by


def _clauses(case: Case) -> list[ctx.ClauseCitation]:
    from compliance.policies.operations import citations_for_case, incident_window

    window = incident_window(case)
    return [
        ctx.ClauseCitation(
            cite=c.citation(),
            heading=c.clause.heading,
            text=c.clause.text,
            note=c.note,
            difference=_difference_across_versions(c.clause, window),
        )
        for c in citations_for_case(case)
    ]


def _difference_across_versions(clause: Any, window: Any) -> str:
    """When the conduct spans several versions of the document, say how this clause differed.

    The rule (DOMAIN.md): cite the version in force during the conduct; if the conduct spans
    several, cite each and show the difference.
    """
    from compliance.policies.operations import clause_change, versions_in_force

    versions = versions_in_force(clause.version.document, window)
    if len(versions) < 2:
        return ""
    parts = []
    for older, newer in zip(versions, versions[1:], strict=False):
        change = clause_change(
            clause.number, older.clause(clause.number), newer.clause(clause.number)
        )
        if change.status == "unchanged":
            parts.append(f"§{clause.number} is identical in {older.label} and {newer.label}.")
        elif change.status == "added":
            parts.append(f"§{clause.number} was added in {newer.label}; {older.label} had none.")
        elif change.status == "removed":
            parts.append(f"§{clause.number} of {older.label} was removed in {newer.label}.")
        else:
            old_text = " ".join((change.old.heading + ": " + change.old.text).split())
            parts.append(
                f"In {older.label} (in force from {older.effective_from.isoformat()}) "
                f"§{clause.number} read: \u201c{old_text}\u201d"
            )
    return " ".join(parts)


def _steps(case: Case) -> list[ctx.Step]:
    rows = [ctx.Step("transition:opened", case.created_at, "Case opened", case.created_by)]
    for t in case.transitions:
        rows.append(
            ctx.Step(
                f"transition:{t.id}",
                t.occurred_at,
                f"{t.from_state.replace('_', ' ').capitalize()} → {t.to_state.replace('_', ' ')}",
                t.actor_name,
                t.reason or "",
            )
        )
    return rows


def _notices(case: Case, exclude: int | None) -> list[ctx.NoticeSent]:
    sent = db.session.scalars(
        select(Packet)
        .where(Packet.case_id == case.id, Packet.sent_on.is_not(None), Packet.draft.is_(False))
        .order_by(Packet.sent_on, Packet.id)
    )
    return [
        ctx.NoticeSent(f"notice:{p.id}", p.sent_on, p.sent_to or "", p.packet_type)
        for p in sent
        if p.id != exclude
    ]


def gather_for(
    case: Case,
    packet_type: str,
    composition: Composition,
    *,
    draft: bool,
    requested_by: Actor | None = None,
    packet: Packet | None = None,
    with_bytes: bool = True,
) -> ctx.Gathered:
    """Everything a packet of `case` may draw on, read once from the database (pre-redaction)."""
    signatory = signatory_profile(requested_by.user_id) if requested_by is not None else None
    return ctx.Gathered(
        packet_id=packet.id if packet is not None else None,
        packet_type=packet_type,
        draft=draft,
        composition=composition,
        case={"ref": case.ref, "created_at": case.created_at, **case.snapshot()},
        notes=tuple(
            ctx.NoteView(_person_name(n.author), n.created_at, n.body, n.privileged)
            for n in case.notes
        ),
        steps=tuple(_steps(case)),
        notices=tuple(_notices(case, packet.id if packet is not None else None)),
        evidence=tuple(_evidence(case, with_bytes=with_bytes)),
        clauses=tuple(_clauses(case)),
        built_at=(packet.built_at if packet is not None else None)
        or utcnow().replace(microsecond=0),
        organisation=_organisation(),
        signatory=_person(signatory),
        custodian=_person(_custodian(composition)),
        bates_prefix=packet.bates_prefix if packet is not None else None,
        bates_first=packet.bates_first if packet is not None else None,
        bates_last=packet.bates_last if packet is not None else None,
    )


def gather(packet: Packet) -> ctx.Gathered:
    """Everything `packet` may draw on; its signatory is the person who requested it."""
    user = _user_of(packet.requested_by)
    return gather_for(
        packet.case,
        packet.packet_type,
        parse_composition(packet.request_fields),
        draft=packet.draft,
        requested_by=Actor.for_user(user) if user is not None else None,
        packet=packet,
    )


@dataclass(frozen=True)
class Document:
    """A packet's document before layout: the facts, the redacted context, and its inputs."""

    gathered: ctx.Gathered
    context: dict[str, Any]
    inputs: dict[str, Any]
    inputs_sha256: str


def document_of(g: ctx.Gathered) -> Document:
    context = ctx.build_document(g)
    inputs = binding.canonical(binding.inputs_of(context))
    return Document(g, context, inputs, binding.digest(inputs))


def attachments_for(doc: Document) -> list[render.PdfAttachment]:
    """Files embedded in the PDF: the evidence originals the profile allows, then the manifest."""
    files = [
        render.PdfAttachment(f.name, f.data, description=f"Original evidence, SHA-256 {f.sha256}")
        for f in ctx.embedded_files(doc.context, doc.gathered)
    ]
    files.append(
        render.PdfAttachment(
            ctx.MANIFEST_NAME,
            ctx.manifest(doc.gathered, doc.context, doc.inputs_sha256),
            description="Packet manifest",
            relationship="Data",
        )
    )
    return files


# ---------------------------------------------------------------- Bates counter
def counter_value(prefix: str) -> int:
    """The last Bates number issued for `prefix` (0 before the first packet)."""
    return (
        db.session.scalar(select(BatesCounter.last_number).where(BatesCounter.prefix == prefix))
        or 0
    )


def _ensure_counter(prefix: str) -> None:
    if db.session.get(BatesCounter, prefix) is None:
        from sqlalchemy.exc import IntegrityError

        try:
            with db.session.begin_nested():
                db.session.add(BatesCounter(prefix=prefix, last_number=0))
        except IntegrityError:
            pass  # created concurrently: fine, it exists


def reserve_range(
    prefix: str, count: int, expected_last: int, *, packet: Packet | None = None
) -> int | None:
    """Advance the counter by `count` if it still stands at `expected_last`; first number or None.

    Runs in the caller's transaction, which must commit promptly: the row stays locked until then.
    The reservation is audited (for `packet` when given): Bates numbers are never spent silently.
    """
    if count < 1:
        raise ValueError("a range has at least one number")
    _ensure_counter(prefix)
    current = db.session.scalar(
        select(BatesCounter.last_number)
        .where(BatesCounter.prefix == prefix)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if current != expected_last:
        return None
    db.session.execute(
        update(BatesCounter)
        .where(BatesCounter.prefix == prefix, BatesCounter.last_number == expected_last)
        .values(last_number=expected_last + count)
    )
    first, last = expected_last + 1, expected_last + count
    record(
        "packet.bates_reserved",
        actor=Actor.system("packet-build"),
        object_type="packet" if packet is not None else "bates_counter",
        object_id=packet.id if packet is not None else prefix,
        case=packet.case if packet is not None else None,
        details={"prefix": prefix, "first": first, "last": last},
    )
    return first


# ---------------------------------------------------------------- storage and signing
def _store(pdf: bytes) -> str:
    """Write-once, content-addressed: the evidence blob store."""
    from compliance.evidence.store import blob_store

    sha256, _created = blob_store().put(pdf)
    return sha256


def packet_bytes(packet: Packet) -> bytes:
    """The stored PDF, checked against the hash recorded when it was built."""
    from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

    if packet.status != "stored" or not packet.sha256:
        raise Conflict(f"packet {packet.id} is {packet.status}, there is no file to read")
    try:
        return checked_bytes(blob_store(), packet.sha256)
    except BlobDamaged as damage:
        raise Conflict(
            f"packet {packet.id} file is {damage.status} in the store (sha256={packet.sha256})"
        ) from None


def _signing_configured() -> bool:
    path = current_app.config.get("SIGNING_KEY_PATH")
    return bool(path) and Path(path).is_file()


# ---------------------------------------------------------------- build
@dataclass
class BuildResult:
    packet: Packet
    pdf: bytes | None


def _claim(packet_id: int, now: datetime) -> bool:
    """Move a queued packet to rendering; False when another worker already took it."""
    result = db.session.execute(
        update(Packet)
        .where(Packet.id == packet_id, Packet.status == "queued")
        .values(status="rendering", started_at=now, built_at=now)
    )
    return result.rowcount == 1


def _lay_out(doc: Document, packet: Packet) -> tuple[render.LaidOut, render.Bates | None]:
    built_at = doc.gathered.built_at
    html = render.render_html(
        packet.packet_type,
        {**doc.context, "toc": ctx.toc(doc.context), "document_created": built_at},
    )
    images = doc.context["images"]
    if packet.draft:
        return render.layout(html, created=built_at, images=images), None
    bates = render.Bates(packet.bates_prefix, counter_value(packet.bates_prefix) + 1)
    return render.layout(html, bates=bates, created=built_at, images=images), bates


def _check_bound_to_preview(packet: Packet, doc: Document) -> None:
    """A final packet is built from exactly what its preview showed, or not at all."""
    if packet.preview_id is None:
        return
    preview = get_packet(packet.preview_id)
    if doc.inputs_sha256 != preview.inputs_sha256:
        changes = binding.changes(preview.inputs or {}, doc.inputs)
        raise render.RenderError(
            f"the inputs changed since preview {preview.id}: " + "; ".join(changes)
        )


def build_packet(
    packet_id: int, *, sign: bool | None = None, now: datetime | None = None
) -> BuildResult:
    """Render, number, sign and store a queued packet; on any error mark it failed with why.

    Commits (see the module docstring). Returns the packet and, when stored, its bytes.
    """
    system = Actor.system("packet-build")
    now = (now or utcnow()).replace(microsecond=0)
    if not _claim(packet_id, now):
        db.session.rollback()
        return BuildResult(get_packet(packet_id), None)
    packet = get_packet(packet_id)
    record(
        "packet.rendering",
        actor=system,
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={"built_at": now},
    )
    db.session.commit()
    reserved = False
    try:
        doc = document_of(gather(packet))
        _check_bound_to_preview(packet, doc)
        laid_out, bates = _lay_out(doc, packet)
        if bates is not None:
            for _attempt in range(MAX_LAYOUT_ATTEMPTS):
                first = reserve_range(bates.prefix, laid_out.pages, bates.first - 1, packet=packet)
                if first is not None:
                    break
                db.session.rollback()  # another build took those numbers: lay out again
                laid_out, bates = _lay_out(doc, packet)
            else:
                raise render.RenderError("could not reserve a Bates range (too much contention)")
            packet.bates_first, packet.bates_last = first, first + laid_out.pages - 1
            packet.page_count = laid_out.pages
            db.session.commit()  # the range (audited by reserve_range) is now spent
            reserved = True
            # The manifest carries the reserved range.
            g = replace(doc.gathered, bates_first=packet.bates_first, bates_last=packet.bates_last)
            doc = replace(doc, gathered=g)
        pdf = laid_out.write(attachments_for(doc))
        signed, signer = False, None
        if sign is None:
            sign = _signing_configured() and not packet.draft
        if sign:
            from compliance.packets.signing import sign_pdf, signer_name

            signer = signer_name()
            pdf = sign_pdf(
                pdf, reason=f"{packet.packet_type} packet {packet.id} for {packet.case.ref}"
            )
            signed = True
        sha256 = _store(pdf)
        packet.sha256 = sha256
        packet.size_bytes = len(pdf)
        packet.page_count = laid_out.pages
        packet.signed = signed
        packet.signer = signer
        packet.inputs = doc.inputs
        packet.inputs_sha256 = doc.inputs_sha256
        packet.status = "stored"
        packet.failure_reason = None
        record(
            "packet.stored",
            actor=system,
            object_type="packet",
            object_id=packet.id,
            case=packet.case,
            details={
                "sha256": sha256,
                "size": len(pdf),
                "pages": laid_out.pages,
                "bates": packet.bates_range,
                "signed": signed,
                "template_version": packet.template_version,
                "inputs_sha256": doc.inputs_sha256,
                "preview_id": packet.preview_id,
                "exhibits": [e.sha256 for e in doc.context["exhibits"]],
            },
        )
        db.session.commit()
        return BuildResult(packet, pdf)
    except Exception as error:  # noqa: BLE001 - any failure must leave a failed record
        db.session.rollback()
        log.exception("packet %s build failed", packet_id)
        mark_failed(packet_id, f"{type(error).__name__}: {error}", reserved=reserved)
        return BuildResult(get_packet(packet_id), None)


def mark_failed(packet_id: int, reason: str, *, reserved: bool | None = None) -> Packet:
    """Mark a build failed with its reason; record its reserved Bates range as a gap. Commits."""
    packet = get_packet(packet_id)
    db.session.refresh(packet)
    gap = None
    if packet.bates_first is not None and packet.status != "stored" and reserved is not False:
        gap = BatesGap(
            prefix=packet.bates_prefix,
            first_number=packet.bates_first,
            last_number=packet.bates_last,
            packet_id=packet.id,
            reason=reason[:2000],
        )
        db.session.add(gap)
    packet.status = "failed"
    packet.failure_reason = reason[:2000]
    db.session.flush()
    record(
        "packet.failed",
        actor=Actor.system("packet-build"),
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={
            "reason": reason[:500],
            "gap": None if gap is None else [gap.first_number, gap.last_number],
        },
    )
    db.session.commit()
    return packet


# ---------------------------------------------------------------- sending and reading
def mark_sent(
    packet: Packet,
    actor: Actor,
    *,
    recipient: str,
    channel: str,
    sent_on: datetime,
    recipient_id: int | None = None,
    their_reference: str = "",
    proof: Any = None,
    owner_id: int | None = None,
) -> Packet:
    """Record that a final external packet went out: to whom, how, when, and who says so.

    The sending becomes a notice (compliance.notices), followed until it is resolved:
    `recipient_id` names a directory entry (then `recipient` may be empty), `proof` is a
    notices.operations.Upload kept as evidence, `owner_id` who follows it up (default: the
    sender).
    """
    from compliance.notices.operations import get_recipient, record_notice

    require_permission(actor, "packet.send")
    if recipient_id is None and not (recipient or "").strip():
        recipient_id = (packet.request_fields or {}).get("recipient_id")
    directory = get_recipient(recipient_id) if recipient_id else None
    if directory is not None and not (recipient or "").strip():
        recipient = directory.name
    if packet.draft:
        raise WorkflowRefused("a draft packet can never be marked as sent: build a final packet")
    if packet.packet_type not in EXTERNAL_TYPES:
        raise WorkflowRefused("an internal memo never leaves the building: it cannot be sent")
    if packet.status != "stored":
        raise WorkflowRefused(
            f"packet {packet.id} is {packet.status}: only stored packets are sent"
        )
    if packet.is_sent:
        raise Conflict(
            f"packet {packet.id} was already recorded as sent on {packet.sent_on:%Y-%m-%d}"
        )
    recipient = (recipient or "").strip()
    errors = {}
    if not recipient:
        errors["recipient"] = "say who received it"
    elif len(recipient) > 300:
        errors["recipient"] = "at most 300 characters"
    if channel not in CHANNELS:
        errors["channel"] = "one of " + ", ".join(CHANNELS)
    if sent_on is None or sent_on.tzinfo is None:
        errors["sent_on"] = "a date with a time zone"
    elif sent_on > utcnow():
        errors["sent_on"] = "cannot be in the future"
    elif packet.built_at and sent_on < packet.built_at.replace(
        hour=0, minute=0, second=0, microsecond=0
    ):
        errors["sent_on"] = "cannot be before the packet was built"
    if errors:
        raise InvalidInput("the sending record is not complete", details=errors)
    packet.sent_to, packet.sent_channel, packet.sent_on = recipient, channel, sent_on
    packet.sent_by, packet.sent_by_name = actor.label, actor.name or actor.label
    packet.sent_recorded_at = utcnow()
    db.session.flush()
    record(
        "packet.sent",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={
            "recipient": recipient,
            "channel": channel,
            "sent_on": sent_on,
            "sha256": packet.sha256,
            "bates": packet.bates_range,
        },
    )
    record_notice(
        packet,
        actor,
        recipient=directory,
        recipient_name=recipient,
        channel=channel,
        sent_at=sent_on,
        their_reference=their_reference,
        proof=proof,
        owner_id=owner_id,
    )
    return packet


def download_packet(packet: Packet, actor: Actor, purpose: str = "downloaded") -> bytes:
    """The packet's bytes for a person; each download is a custody and an audit event."""
    require_permission(actor, "packet.view")
    if not may_read(packet, actor):
        raise PermissionDenied("a privileged memo is for counsel only")
    data = packet_bytes(packet)
    _record_exhibit_custody(packet, actor, "exported", f"in packet {packet.id}: {purpose}")
    # Downloads repeated within minutes are one event (the exhibits' custody counts them).
    since = utcnow() - READ_WINDOW
    if not recorded_since(
        "packet.downloaded", actor=actor, object_type="packet", object_id=packet.id, since=since
    ):
        record(
            "packet.downloaded",
            actor=actor,
            object_type="packet",
            object_id=packet.id,
            case=packet.case,
            details={"sha256": packet.sha256, "purpose": purpose[:300]},
        )
    return data


def _record_exhibit_custody(packet: Packet, actor: Actor, action: str, purpose: str) -> None:
    """Each evidence item inside the packet gets a custody event: it left with the packet."""
    from compliance.evidence.models import EvidenceItem
    from compliance.evidence.operations import record_custody

    items = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == packet.case_id).order_by(EvidenceItem.id)
    )
    for item in items:
        record_custody(item, actor, action, purpose, details={"packet_id": packet.id})
