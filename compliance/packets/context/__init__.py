"""What a packet shows: the facts gathered from the database (`Gathered`), then the document
built from them and from counsel's composition, by the rules of the packet's redaction profile.

Redaction happens here, while the context is built, never in the templates: a template cannot
print what it was never given. Tests assert on these dictionaries and on the PDF text.

- takedown (external-public): platforms may publish notices. Counsel's narrative, never the
  internal case summary; the conduct described by the public names of our detection methods;
  third-party customer identifiers pseudonymised wherever text is reproduced; no notes, no
  workflow history, no detector versions or metrics; evidence files are not embedded.
- referral (law-enforcement): full indicators, metrics, files (embedded) and custody, with a
  records certification made by a custodian; no notes, no workflow history.
- memo (privileged-internal): everything, the privileged notes and the full workflow history
  with reasons included; it never leaves the building.

This module holds which evidence may go into a packet and `build_document`, which assembles
the document from the parts built in:

- `facts`: what is gathered from the database (`Gathered`, `Evidence`, `Person`, ...)
- `identifiers`: the identifiers shown, their parties, the takedown's pseudonyms
- `exhibits`: the exhibits as printed (description, source, custody, files reproduced)
- `chronology`: the chronology and its timeline
- `sections`: the heading, the case as printed, indicators, scale, certification, contents
- `manifest`: the template version, the embedded manifest and files

Import from `compliance.packets.context` (the names below), not from the modules: the split
is an internal arrangement.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from compliance.errors import InvalidInput
from compliance.intel.models import RESTRICTED_TLP
from compliance.markdown import render_markdown
from compliance.packets.context.chronology import ChronologyEntry, chronology, conduct_timeline
from compliance.packets.context.exhibits import (
    IMAGE_TYPES,
    INLINE_LIMIT,
    KIND_LABELS,
    METHODS,
    PREVIEW_LINES,
    PUBLIC_ROLES,
    REPRODUCTION_WORDS,
    TEXT_TYPES,
    Exhibit,
    InlineFile,
    printed_exhibits,
    reproduce,
    reproduced_texts,
)
from compliance.packets.context.facts import (
    ClauseCitation,
    CustodyRow,
    Evidence,
    ExhibitFile,
    Gathered,
    NoteView,
    NoticeSent,
    Person,
    Step,
    conduct_period,
)
from compliance.packets.context.identifiers import (
    CUSTOMER_TYPES,
    IDENTIFIER_LABELS,
    Identifier,
    identifier_candidates,
    pseudonymiser,
    review_identifiers,
)
from compliance.packets.context.manifest import (
    MANIFEST_NAME,
    TEMPLATE_VERSION,
    embedded_files,
    manifest,
)
from compliance.packets.context.sections import (
    CONDUCT,
    CONFIDENTIALITY,
    SECTIONS,
    SUBTITLES,
    TITLES,
    case_as_printed,
    certification,
    conduct_statement,
    heading,
    indicators,
    person_as_printed,
    scale,
    toc,
)


def eligibility(g: Gathered, evidence: Evidence) -> str | None:
    """Why `evidence` may not go into this packet, or None when it may."""
    if g.packet_type == "memo" or evidence.origin != "partner":
        return None
    if evidence.tlp in RESTRICTED_TLP:
        return f"received from {evidence.partner} under TLP:{evidence.tlp.upper()}: never leaves"
    if evidence.tlp == "amber" and not g.composition.recipient_in_community:
        return (
            f"received from {evidence.partner} under TLP:AMBER: only for a recipient counsel "
            "confirms is inside the sharing community"
        )
    return None


def selected_evidence(g: Gathered) -> list[Evidence]:
    """The exhibits of this packet, in order; InvalidInput when the choice is not allowed."""
    chosen = g.composition.exhibits
    if chosen is None:
        return [e for e in g.evidence if eligibility(g, e) is None]
    by_key = {e.key: e for e in g.evidence}
    errors = {}
    for key in chosen:
        if key not in by_key:
            errors["exhibits"] = f"{key} is not current evidence of {g.case['ref']}"
        elif (why := eligibility(g, by_key[key])) is not None:
            errors["exhibits"] = f"{key} may not go into a {g.packet_type}: {why}"
    if errors:
        raise InvalidInput("some packet fields are not valid", details=errors)
    wanted = set(chosen)
    return [e for e in g.evidence if e.key in wanted]


def build_document(g: Gathered) -> dict[str, Any]:
    """The template context of this packet, redacted by its type's profile."""
    c = g.composition
    chosen = selected_evidence(g)
    public = g.packet_type == "takedown"
    identifiers = review_identifiers(g, chosen, reproduced_texts(c, chosen, public=public))
    redact = pseudonymiser(identifiers) if public else None
    exhibits = printed_exhibits(g, chosen, redact)
    start, end = conduct_period(chosen)
    entries = chronology(g, exhibits)
    narrative = redact(c.narrative) if redact else c.narrative
    memo = g.packet_type == "memo"
    return {
        "doc": heading(g),
        "case": case_as_printed(g, redact),
        "period": {"start": start, "end": end},
        "composition": c,
        "narrative": render_markdown(narrative),
        "summary": render_markdown(g.case.get("summary")) if memo else Markup(""),
        "conduct": conduct_statement(exhibits),
        "organisation": g.organisation,
        "signatory": person_as_printed(g.signatory, "[signatory to be named]"),
        "chronology": entries,
        "timeline_svg": conduct_timeline(exhibits, entries),
        "clauses": g.clauses,
        "exhibits": exhibits,
        "show_internals": not public,
        "indicators": () if public else indicators(exhibits),
        "scale": None if public else scale(g, exhibits),
        "notes": g.notes if memo else (),
        "identifiers": identifiers,
        "certification": certification(g, exhibits) if g.packet_type == "referral" else None,
        "images": {
            f.sha256: f.data for e in chosen for f in e.files if f.media_type in IMAGE_TYPES
        },
    }


__all__ = [
    "CONDUCT",
    "CONFIDENTIALITY",
    "CUSTOMER_TYPES",
    "IDENTIFIER_LABELS",
    "IMAGE_TYPES",
    "INLINE_LIMIT",
    "KIND_LABELS",
    "MANIFEST_NAME",
    "METHODS",
    "PREVIEW_LINES",
    "PUBLIC_ROLES",
    "REPRODUCTION_WORDS",
    "SECTIONS",
    "SUBTITLES",
    "TEMPLATE_VERSION",
    "TEXT_TYPES",
    "TITLES",
    "ChronologyEntry",
    "ClauseCitation",
    "CustodyRow",
    "Evidence",
    "Exhibit",
    "ExhibitFile",
    "Gathered",
    "Identifier",
    "InlineFile",
    "NoteView",
    "NoticeSent",
    "Person",
    "Step",
    "build_document",
    "chronology",
    "conduct_period",
    "eligibility",
    "embedded_files",
    "identifier_candidates",
    "manifest",
    "pseudonymiser",
    "reproduce",
    "review_identifiers",
    "selected_evidence",
    "toc",
]
