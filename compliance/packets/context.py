"""What a packet shows: the facts gathered from the database, then one function per redaction
profile that keeps only what that profile may show.

Redaction happens here, while the context is built, never in the templates: a template cannot
print what it was never given. Tests assert on these dictionaries and on the HTML.

- external-public (takedown): platforms may publish notices, so no customer personal data
  beyond the accused party, no detector internals (versions, metrics, thresholds, subjects), no
  notes of any kind, no evidence files embedded (only their hashes).
- law-enforcement (referral): full indicators, metrics, files and custody; no privileged notes.
- privileged-internal (memo): everything, including privileged notes; marked on every page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from markupsafe import Markup

from compliance.markdown import render_markdown
from compliance.packets.timeline import Mark, Span, timeline_svg

TEMPLATE_VERSION = "2026.1"
MANIFEST_NAME = "packet-manifest.json"

CONFIDENTIALITY = {
    "takedown": "CONFIDENTIAL — PREPARED FOR THE HOSTING PLATFORM",
    "referral": "CONFIDENTIAL — LAW ENFORCEMENT SENSITIVE",
    "memo": "PRIVILEGED & CONFIDENTIAL — ATTORNEY-CLIENT COMMUNICATION / ATTORNEY WORK PRODUCT",
}
TITLES = {
    "takedown": "Notice of Infringing and Unauthorized Model Distribution",
    "referral": "Referral of Unauthorized Model Distillation Campaign",
    "memo": "Internal Counsel Memorandum",
}
KIND_LABELS = {
    "query_fingerprint": "Templated query patterns across accounts",
    "rate_anomaly": "Rate and behaviour anomalies",
    "cot_elicitation": "Step-by-step reasoning elicitation",
    "coverage_sweep": "Systematic topic-coverage sweep",
    "canary_hit": "Canary output found in third-party model",
    "account_linkage": "Linked accounts operated together",
}


@dataclass(frozen=True)
class ExhibitFile:
    name: str
    sha256: str
    size: int
    media_type: str
    data: bytes = field(default=b"", repr=False)  # the original bytes, for embedding


@dataclass(frozen=True)
class CustodyRow:
    when: datetime
    action: str
    who: str
    role: str
    purpose: str
    details: str = ""


@dataclass(frozen=True)
class Exhibit:
    """One piece of evidence as a packet shows it (plain data; no database objects)."""

    number: int
    description: str
    kind: str
    date: datetime | None
    source: str
    source_version: str
    sha256: str
    observed_from: datetime | None = None
    observed_to: datetime | None = None
    summary: str = ""
    confidence: float | None = None
    severity: str = ""
    metrics: tuple[tuple[str, Any], ...] = ()
    subjects: tuple[tuple[str, str], ...] = ()
    files: tuple[ExhibitFile, ...] = ()
    custody: tuple[CustodyRow, ...] = ()

    @property
    def anchor(self) -> str:
        return f"exhibit-{self.number}"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class ClauseCitation:
    cite: str  # "API Terms v2026-03 §4.2 (effective 2026-03-01)"
    heading: str
    text: str  # the clause text in the version cited (Markdown)
    note: str = ""
    difference: str = ""  # when the conduct spans versions: what changed


@dataclass(frozen=True)
class NoteView:
    author: str
    when: datetime
    body: str
    privileged: bool


@dataclass(frozen=True)
class ActionView:
    when: datetime
    what: str
    who: str
    reason: str = ""


@dataclass(frozen=True)
class Gathered:
    """Everything a packet may draw on, read from the database once (before redaction)."""

    packet_id: int | None
    packet_type: str
    draft: bool
    request: dict[str, Any]
    case: dict[str, Any]
    notes: tuple[NoteView, ...]
    actions: tuple[ActionView, ...]
    exhibits: tuple[Exhibit, ...]
    clauses: tuple[ClauseCitation, ...]
    built_at: datetime
    requested_by_name: str
    requested_by_role: str
    organisation: dict[str, str]
    bates_prefix: str | None = None
    bates_first: int | None = None
    bates_last: int | None = None


# ---------------------------------------------------------------- shared pieces
def _case_public(case: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "ref",
        "title",
        "suspected_actor",
        "jurisdiction",
        "incident_start",
        "incident_end",
        "targeted_domains",
        "state",
    )
    return {k: case.get(k) for k in keys}


def _timeline(g: Gathered, exhibits: tuple[Exhibit, ...], *, with_sources: bool) -> Markup:
    spans = []
    if g.case.get("incident_start") and g.case.get("incident_end"):
        spans.append(
            Span("Campaign (as assessed)", g.case["incident_start"], g.case["incident_end"])
        )
    for exhibit in exhibits:
        if exhibit.observed_from and exhibit.observed_to:
            row = exhibit.source if with_sources else exhibit.kind_label
            spans.append(Span(row, exhibit.observed_from, exhibit.observed_to))
    marks = [Mark(a.when, a.what) for a in g.actions][-8:]
    return timeline_svg(spans, marks, "Timeline of the campaign and of our actions")


def _document(g: Gathered, profile: str) -> dict[str, Any]:
    return {
        "type": g.packet_type,
        "title": TITLES[g.packet_type],
        "confidentiality": CONFIDENTIALITY[g.packet_type],
        "profile": profile,
        "draft": g.draft,
        "packet_id": g.packet_id,
        "template_version": TEMPLATE_VERSION,
        "built_at": g.built_at,
        "bates_prefix": g.bates_prefix,
        "bates_first": g.bates_first,
        "bates_last": g.bates_last,
        "privileged": g.packet_type == "memo",
    }


def _certification(g: Gathered, exhibits: tuple[Exhibit, ...]) -> dict[str, Any]:
    return {
        "certifier": g.requested_by_name,
        "qualification": (
            f"{g.requested_by_role.title()}, {g.organisation['name']}; authorised to maintain "
            "and certify the organisation's evidence records"
        ),
        "place": g.organisation["place"],
        "date": g.built_at,
        "tool": "compliance case system, write-once content-addressed evidence store",
        "method": (
            "SHA-256 (FIPS 180-4) computed server-side over the exact bytes received when each "
            "item was collected, and recomputed over the stored bytes when this packet was "
            "built; the two values were compared"
        ),
        "hashes": [(e.number, e.description, e.sha256) for e in exhibits],
    }


def _actions_public(g: Gathered) -> tuple[ActionView, ...]:
    # Dates and what happened; no internal names or reasons.
    return tuple(ActionView(a.when, a.what, "") for a in g.actions)


# ---------------------------------------------------------------- profiles
def external_public(g: Gathered) -> dict[str, Any]:
    """Takedown: what a platform may publish. Accused party yes; customers, internals, no."""
    exhibits = tuple(
        Exhibit(
            number=e.number,
            description=f"{e.kind_label}, observed "
            f"{_day(e.observed_from)} to {_day(e.observed_to)}",
            kind=e.kind,
            date=e.date,
            source="Internal abuse-detection records",
            source_version="",
            sha256=e.sha256,
            observed_from=e.observed_from,
            observed_to=e.observed_to,
            files=tuple(replace(f, data=b"") for f in e.files),
        )
        for e in g.exhibits
    )
    return {
        "doc": _document(g, "external-public"),
        "case": _case_public(g.case),
        "summary": render_markdown(g.case.get("summary")),
        "request": _request(g),
        "organisation": g.organisation,
        "signatory": {"name": g.requested_by_name, "role": g.requested_by_role},
        "actions": _actions_public(g),
        "timeline_svg": _timeline(g, exhibits, with_sources=False),
        "clauses": g.clauses,
        "exhibits": exhibits,
        "show_internals": False,
        "show_custody": True,
        "indicators": (),
        "scale": None,
        "notes": (),
        "certification": _certification(g, exhibits),
    }


def law_enforcement(g: Gathered) -> dict[str, Any]:
    """Referral: full indicators, metrics, files and custody; never privileged notes."""
    indicators: dict[tuple[str, str], set[int]] = {}
    for exhibit in g.exhibits:
        for subject in exhibit.subjects:
            indicators.setdefault(subject, set()).add(exhibit.number)
    return {
        "doc": _document(g, "law-enforcement"),
        "case": g.case | {"summary": None},
        "summary": render_markdown(g.case.get("summary")),
        "request": _request(g),
        "organisation": g.organisation,
        "signatory": {"name": g.requested_by_name, "role": g.requested_by_role},
        "actions": g.actions,
        "timeline_svg": _timeline(g, g.exhibits, with_sources=True),
        "clauses": g.clauses,
        "exhibits": g.exhibits,
        "show_internals": True,
        "show_custody": True,
        "indicators": tuple(
            (kind, value, tuple(sorted(numbers)))
            for (kind, value), numbers in sorted(indicators.items())
        ),
        "scale": _scale(g),
        "notes": tuple(n for n in g.notes if not n.privileged),
        "certification": _certification(g, g.exhibits),
    }


def privileged_internal(g: Gathered) -> dict[str, Any]:
    """Memo: everything counsel holds, privileged notes included; never leaves the building."""
    context = law_enforcement(g)
    context.update(
        doc=_document(g, "privileged-internal"),
        notes=g.notes,
    )
    return context


SECTIONS = {
    "takedown": [
        ("notice", "Notice"),
        ("complainant", "1. Complainant"),
        ("material", "2. Identification and location of the offending model"),
        ("rights", "3. Rights relied on and basis of the complaint"),
        ("remedy", "4. Remedy sought"),
        ("statements", "5. Statements and signature"),
    ],
    "referral": [
        ("narrative", "Referral"),
        ("parties", "1. Parties and jurisdictions"),
        ("discovery", "2. How and when the conduct was discovered"),
        ("measures", "3. Protective measures in force"),
        ("scale", "4. Scale and estimated value"),
        ("indicators", "5. Indicators"),
        ("contact", "6. Point of contact"),
    ],
    "memo": [("assessment", "Memorandum"), ("notes", "Counsel and investigator notes")],
}
COMMON_SECTIONS = [
    ("summary", "Case summary"),
    ("timeline", "Timeline of the campaign and of our actions"),
    ("clauses", "Terms of service relied on"),
    ("exhibit-index", "Exhibit index"),
]


def _toc(packet_type: str, exhibits: tuple[Exhibit, ...]) -> list[tuple[str, str]]:
    # Long packets list only the first exhibits individually; the index lists them all.
    listed = [(e.anchor, f"Exhibit {e.number}") for e in exhibits[:40]]
    return [
        *SECTIONS[packet_type],
        *COMMON_SECTIONS,
        *listed,
        ("certification", "Certification of records by hash"),
    ]


PROFILES: dict[str, Callable[[Gathered], dict[str, Any]]] = {
    "takedown": external_public,
    "referral": law_enforcement,
    "memo": privileged_internal,
}


def _day(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d}"


# Fields a requester may supply with a packet (they are not case fields); all optional text.
REQUEST_FIELDS = (
    "recipient",
    "recipient_contact",
    "offending_url",
    "repository",
    "files",
    "uploader",
    "relationship",
    "basis",
    "copyright_claim",
    "remedy",
    "narrative",
    "protective_measures",
    "estimated_value",
    "contact_name",
    "contact_email",
)


def _request(g: Gathered) -> dict[str, Any]:
    fields = {key: str(g.request.get(key) or "") for key in REQUEST_FIELDS}
    files = fields.get("files") or ""
    fields["files_list"] = [line.strip() for line in str(files).splitlines() if line.strip()]
    return fields


def _scale(g: Gathered) -> dict[str, Any]:
    totals: dict[str, float] = {}
    for exhibit in g.exhibits:
        for key, value in exhibit.metrics:
            if key in ("requests", "accounts", "api_keys", "tokens") and isinstance(
                value, int | float
            ):
                totals[key] = totals.get(key, 0) + value
    return {
        "estimated_queries": g.case.get("estimated_queries"),
        "estimated_value": g.request.get("estimated_value") or "",
        "totals": sorted(totals.items()),
        "domains": g.case.get("targeted_domains") or [],
    }


def build_context(g: Gathered) -> dict[str, Any]:
    """The template context for this packet's type, redacted by its profile."""
    context = PROFILES[g.packet_type](g)
    context["toc"] = _toc(g.packet_type, context["exhibits"])
    return context


def embedded_files(g: Gathered) -> list[ExhibitFile]:
    """Original evidence files embedded in the PDF: none in a notice a platform may publish."""
    if g.packet_type == "takedown":
        return []
    return [f for e in g.exhibits for f in e.files if f.data]


def manifest(g: Gathered) -> bytes:
    """The JSON manifest embedded in every packet (stable bytes: sorted keys, fixed dates)."""
    body = {
        "schema": "compliance-packet-manifest/v1",
        "packet_id": g.packet_id,
        "case": g.case["ref"],
        "type": g.packet_type,
        "draft": g.draft,
        "template_version": TEMPLATE_VERSION,
        "built_at": g.built_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bates": (
            None
            if g.bates_first is None
            else {"prefix": g.bates_prefix, "first": g.bates_first, "last": g.bates_last}
        ),
        "exhibits": [
            {
                "number": e.number,
                "sha256": e.sha256,
                "files": [{"name": f.name, "sha256": f.sha256} for f in e.files],
            }
            for e in g.exhibits
        ],
        "embedded_files": [{"name": f.name, "sha256": f.sha256} for f in embedded_files(g)],
    }
    return json.dumps(body, sort_keys=True, indent=2).encode()
