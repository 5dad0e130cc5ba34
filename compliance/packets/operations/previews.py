"""Composing a packet: the choices a composition form offers, and the review of a preview.

Counsel composes (which exhibits, chronology entries, steps, the custodian), builds a
preview, and checks it here before building the final packet from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from compliance.cases.models import Case
from compliance.extensions import db
from compliance.packets import context as ctx
from compliance.packets.composition import PARTIES, Composition, required_for_final
from compliance.packets.composition import parse as parse_composition
from compliance.packets.models import EXTERNAL_TYPES, Packet, SignatoryProfile
from compliance.packets.operations.addressing import _addressed
from compliance.packets.operations.gathering import gather, gather_for


@dataclass(frozen=True)
class ComposeOptions:
    """The choices a composition form offers for one case and packet type."""

    evidence: list[tuple[ctx.Evidence, str | None]]  # candidate, why it may not go (or None)
    entries: list[tuple[str, datetime, str]]  # conduct and notice entries: key, when, text
    steps: list[ctx.Step]  # workflow steps counsel may add, with their internal reasons
    custodians: list[SignatoryProfile]
    copyright_available: bool  # a canary hit shows our own text was reproduced
    amber: bool  # the case holds TLP:AMBER partner material


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
