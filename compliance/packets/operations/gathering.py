"""Gathering a packet's facts: everything it may draw on, read once from the database.

The facts (`context.Gathered`) are the case, its notes, steps, earlier notices, evidence
exhibits, cited clauses, the organisation and the people who sign; `document_of` turns them
into the redacted document and the inputs a final packet is bound to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from compliance.actor import Actor
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.extensions import db
from compliance.packets import binding, render
from compliance.packets import context as ctx
from compliance.packets.composition import Composition
from compliance.packets.composition import parse as parse_composition
from compliance.packets.models import Packet
from compliance.packets.operations.exhibits import _evidence
from compliance.packets.operations.signatories import (
    _custodian,
    _person,
    _person_name,
    _user_of,
    signatory_profile,
)

# The demo lab (fictional); a deployment sets PACKET_ORGANISATION in its instance config.
DEFAULT_ORGANISATION = {
    "name": "Meridian AI",
    "department": "Legal Department",
    "address": "500 Howard Street, Suite 1200, San Francisco, CA 94105, USA",
    "place": "San Francisco, California",
    "contact_email": "legal@lab.example",
    "phone": "+1 415 555 0142",
}


def _organisation() -> dict[str, str]:
    return DEFAULT_ORGANISATION | dict(current_app.config.get("PACKET_ORGANISATION") or {})


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
    """The case's earlier notices: its final packets recorded as sent. The sending is kept on
    the packet itself (`sending.record_sending`), so this reads no notice."""
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
