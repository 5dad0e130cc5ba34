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

Outgoing packets (takedown, referral) carry a chronology of the *conduct* (first and last
observation per exhibit) and of notices already sent; a workflow step appears only when counsel
added it to the composition with the wording to print.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from compliance.errors import InvalidInput
from compliance.intel.models import RESTRICTED_TLP
from compliance.markdown import render_markdown
from compliance.packets.composition import BASES, PARTIES, Composition, normalise
from compliance.packets.timeline import Mark, Span, timeline_svg

TEMPLATE_VERSION = "2026.2"
MANIFEST_NAME = "packet-manifest.json"
INLINE_LIMIT = 64 * 1024  # text files up to this size are reproduced in full
PREVIEW_LINES = 12  # first lines shown of a larger text file
TEXT_TYPES = ("text/", "application/json", "application/x-ndjson", "application/csv")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")

CONFIDENTIALITY = {
    "takedown": "CONFIDENTIAL — PREPARED FOR THE HOSTING PLATFORM",
    "referral": "CONFIDENTIAL — LAW ENFORCEMENT SENSITIVE",
    "memo": "PRIVILEGED & CONFIDENTIAL — ATTORNEY-CLIENT COMMUNICATION / ATTORNEY WORK PRODUCT",
}
TITLES = {
    ("takedown", "terms"): "Complaint of Terms-of-Service Violation and Request for Removal",
    ("takedown", "copyright"): "Notification of Claimed Copyright Infringement",
    ("takedown", "dsa"): "Notice of Illegal Content",
    ("referral", None): "Referral of an Unauthorized Model Distillation Campaign",
    ("memo", None): "Internal Counsel Memorandum",
}
SUBTITLES = {
    ("takedown", "terms"): "Under the platform's content policy",
    ("takedown", "copyright"): "Under 17 U.S.C. § 512(c)(3)",
    ("takedown", "dsa"): "Under Article 16 of Regulation (EU) 2022/2065 (Digital Services Act)",
}
KIND_LABELS = {
    "query_fingerprint": "Templated query patterns across accounts",
    "rate_anomaly": "Rate and behaviour anomalies",
    "cot_elicitation": "Step-by-step reasoning elicitation",
    "coverage_sweep": "Systematic topic-coverage sweep",
    "canary_hit": "Canary output found in a third-party model",
    "account_linkage": "Linked accounts operated together",
    "upload": "Investigator's record",
}
# The public name of each detection method: what an outsider is told, never a detector id.
METHODS = {
    "query_fingerprint": "query fingerprinting",
    "rate_anomaly": "rate and behaviour analysis",
    "cot_elicitation": "reasoning-elicitation analysis",
    "coverage_sweep": "topic-coverage analysis",
    "canary_hit": "canary (watermark) monitoring",
    "account_linkage": "account-linkage analysis",
}
# What each kind of finding shows about the conduct, in words for the recipient.
CONDUCT = {
    "query_fingerprint": "templated prompts sent in volume from many accounts",
    "rate_anomaly": "machine-regular request timing and the rotation of accounts and keys to "
    "stay under rate limits",
    "cot_elicitation": "prompts crafted to extract step-by-step reasoning at scale",
    "coverage_sweep": "systematic sweeps across whole subject domains",
    "canary_hit": "outputs carrying canary markers that exist only in our models' answers, "
    "reproduced by the model complained of",
    "account_linkage": "accounts operated together (shared payment, network or organisation "
    "details)",
}
IDENTIFIER_LABELS = {
    "account": "Account",
    "api_key": "API key",
    "org": "Organisation",
    "ip_prefix": "IP prefix",
    "payment_fingerprint": "Payment fingerprint",
    "email_domain": "E-mail domain",
    "email": "E-mail address",
    "url": "URL",
    "person": "Name",
}
# Customer identifiers: a third party's are pseudonymised wherever a takedown reproduces text.
CUSTOMER_TYPES = ("account", "api_key", "org", "ip_prefix", "payment_fingerprint", "email_domain")


# ---------------------------------------------------------------- gathered facts
@dataclass(frozen=True)
class Person:
    """A signatory or custodian as printed (from their own signatory profile)."""

    full_name: str
    title: str
    organisation: str
    postal_address: str
    phone: str
    email: str
    bar_admission: str = ""
    qualification: str = ""


@dataclass(frozen=True)
class ExhibitFile:
    name: str
    sha256: str
    size: int
    media_type: str
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class CustodyRow:
    when: datetime
    action: str
    who: str
    role: str
    purpose: str
    details: str = ""


@dataclass(frozen=True)
class Evidence:
    """One exhibit candidate: a finding (its record and attachments) or an uploaded file."""

    key: str  # "finding:12" or "item:40": how a composition names it
    kind: str  # a finding kind, or "upload"
    origin: str  # detector, partner, upload
    title: str
    sha256: str
    date: datetime | None
    received_at: datetime
    observed_from: datetime | None = None
    observed_to: datetime | None = None
    detector: str = ""
    detector_version: str = ""
    partner: str = ""
    tlp: str = ""  # clear, green, amber, amber+strict, red (partner material only)
    uploaded_by: str = ""
    upload_source: str = ""
    summary: str = ""
    confidence: float | None = None
    severity: str = ""
    metrics: tuple[tuple[str, Any], ...] = ()
    subjects: tuple[tuple[str, str], ...] = ()
    record: ExhibitFile | None = None  # the finding's canonical JSON
    files: tuple[ExhibitFile, ...] = ()
    custody: tuple[CustodyRow, ...] = ()


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
class Step:
    """A workflow transition (internal deliberation: memo only, unless counsel adds it)."""

    key: str  # "transition:7"
    when: datetime
    what: str
    who: str
    reason: str = ""


@dataclass(frozen=True)
class NoticeSent:
    key: str  # "notice:3"
    when: datetime
    recipient: str
    packet_type: str


@dataclass(frozen=True)
class Gathered:
    """Everything a packet may draw on, read from the database once (before redaction)."""

    packet_id: int | None
    packet_type: str
    draft: bool
    composition: Composition
    case: dict[str, Any]
    notes: tuple[NoteView, ...]
    steps: tuple[Step, ...]
    notices: tuple[NoticeSent, ...]
    evidence: tuple[Evidence, ...]
    clauses: tuple[ClauseCitation, ...]
    built_at: datetime
    organisation: dict[str, str]
    signatory: Person | None
    custodian: Person | None
    bates_prefix: str | None = None
    bates_first: int | None = None
    bates_last: int | None = None


# ---------------------------------------------------------------- exhibits as printed
@dataclass(frozen=True)
class InlineFile:
    """A preserved file as the packet reproduces it."""

    name: str
    sha256: str
    size: int
    media_type: str
    reproduction: str  # full, pseudonymised, image, excerpt, described
    lines: tuple[str, ...] = ()
    image_url: str = ""
    embedded: bool = False


@dataclass(frozen=True)
class Exhibit:
    number: int
    key: str
    kind: str
    origin: str
    description: str
    source: str
    sha256: str
    date: datetime | None
    received_at: datetime
    observed_from: datetime | None
    observed_to: datetime | None
    reproduction: str  # how the exhibit is reproduced, in one phrase for the index
    summary: str = ""
    confidence: float | None = None
    severity: str = ""
    metrics: tuple[tuple[str, Any], ...] = ()
    subjects: tuple[tuple[str, str], ...] = ()
    files: tuple[InlineFile, ...] = ()
    custody: tuple[CustodyRow, ...] = ()

    @property
    def anchor(self) -> str:
        return f"exhibit-{self.number}"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Identifier:
    """One identifier that will appear in the packet, with the party it belongs to."""

    key: str  # normalised value
    value: str  # as first spelled
    type: str
    party: str
    shown_as: str  # the value, or its pseudonym in a takedown

    @property
    def type_label(self) -> str:
        return IDENTIFIER_LABELS.get(self.type, self.type.replace("_", " "))


@dataclass(frozen=True)
class ChronologyEntry:
    key: str
    when: datetime
    text: str
    internal: bool = False


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


def conduct_period(evidence: Iterable[Evidence]) -> tuple[datetime | None, datetime | None]:
    """When the conduct was observed, from the exhibits' own windows (never receipt times)."""
    starts = [e.observed_from for e in evidence if e.observed_from]
    ends = [e.observed_to for e in evidence if e.observed_to]
    return (min(starts) if starts else None, max(ends) if ends else None)


# ---------------------------------------------------------------- identifiers
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def identifier_candidates(
    g: Gathered, exhibits: list[Evidence]
) -> list[tuple[str, str, str, bool]]:
    """(type, value, default party, printed as a field) of every identifier a packet may show.

    Subjects of the exhibits are customer identifiers: a third party's unless counsel says they
    are the accused party's (the suspected actor's own name is recognised).
    """
    c = g.composition
    accused = {normalise(v) for v in (g.case.get("suspected_actor"), c.uploader) if v}
    rows: list[tuple[str, str, str, bool]] = []
    if g.case.get("suspected_actor"):
        rows.append(("org", g.case["suspected_actor"], "accused", True))
    if c.uploader:
        rows.append(("account", c.uploader, "accused", True))
    rows.append(("org", g.organisation["name"], "us", True))
    rows.append(("email", g.organisation["contact_email"], "us", True))
    for person in (g.signatory, g.custodian):
        if person is not None:
            rows.append(("person", person.full_name, "us", True))
            rows.append(("email", person.email, "us", True))
    if c.recipient:
        rows.append(("org", c.recipient, "recipient", True))
    for url in [*c.offending_urls, *([c.repository] if c.repository else [])]:
        rows.append(("url", url, "accused", True))
    actor = normalise(g.case.get("suspected_actor") or "")
    for evidence in exhibits:
        for kind, value in evidence.subjects:
            key = normalise(value)
            # "Nimbus AI" is the accused "Nimbus AI GmbH": an organisation named inside the
            # suspected actor's name is theirs.
            theirs = key in accused or (kind == "org" and actor and key in actor)
            rows.append((kind, value, "accused" if theirs else "third_party", False))
    return rows


def review_identifiers(
    g: Gathered, exhibits: list[Evidence], texts: Iterable[str]
) -> list[Identifier]:
    """Every identifier that will appear, one per normalised spelling, with its party.

    An identifier appears when it is printed as a field (actor, recipient, URLs, our contact)
    or occurs in text the packet reproduces (narrative, file contents, indicators). Counsel's
    corrections (`composition.parties`) win over the defaults. In a takedown, third parties'
    customer identifiers and e-mail addresses are shown as numbered pseudonyms.
    """
    corpus = " ".join("\n".join(texts).casefold().split())
    seen: dict[str, Identifier] = {}
    counters: dict[str, int] = {}

    parties = g.composition.parties

    def add(kind: str, value: str, party: str) -> None:
        key = normalise(value)
        # Counsel's word for this identifier, else for every identifier of its type.
        party = parties.get(key) or parties.get(f"*:{kind}") or party
        shown = " ".join(value.split())
        if party == "third_party" and g.packet_type == "takedown" and kind != "url":
            counters[kind] = counters.get(kind, 0) + 1
            label = IDENTIFIER_LABELS.get(kind, kind).lower()
            shown = f"[third-party {label} {counters[kind]}]"
        seen[key] = Identifier(key, " ".join(value.split()), kind, party, shown)

    for kind, value, party, printed in identifier_candidates(g, exhibits):
        key = normalise(value)
        if key and key not in seen and (printed or key in corpus):
            add(kind, value, party)
    for email in sorted(set(_EMAIL.findall(corpus))):
        if normalise(email) not in seen:
            add("email", email, "third_party")
    order = list(PARTIES)
    return sorted(seen.values(), key=lambda i: (order.index(i.party), i.type, i.key))


def pseudonymiser(identifiers: Iterable[Identifier]) -> Callable[[str], str]:
    """Replace each pseudonymised identifier in a text, whatever its case or spacing."""
    replaced = [i for i in identifiers if i.shown_as != i.value]
    if not replaced:
        return lambda text: text
    patterns = [
        (
            re.compile(
                r"\s+".join(re.escape(part) for part in i.value.split()), flags=re.IGNORECASE
            ),
            i.shown_as,
        )
        for i in sorted(replaced, key=lambda i: -len(i.value))
    ]

    def apply(text: str) -> str:
        for pattern, shown in patterns:
            text = pattern.sub(shown, text)
        return text

    return apply


# ---------------------------------------------------------------- reproduction of files
def _is_text(media_type: str) -> bool:
    return media_type.startswith(TEXT_TYPES)


def reproduce(f: ExhibitFile, *, embedded: bool, redact: Callable[[str], str] | None) -> InlineFile:
    """How one preserved file appears: in full, pseudonymised, as an image, or described."""
    base = {"name": f.name, "sha256": f.sha256, "size": f.size, "media_type": f.media_type}
    if f.media_type in IMAGE_TYPES and f.size <= 4 * INLINE_LIMIT:
        return InlineFile(**base, reproduction="image", image_url=f"evidence:{f.sha256}")
    if _is_text(f.media_type):
        try:
            text = f.data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            lines = text.splitlines()
            whole = f.size <= INLINE_LIMIT
            shown = lines if whole else lines[:PREVIEW_LINES]
            redacted = tuple(redact(line) for line in shown) if redact else tuple(shown)
            if whole:
                how = "pseudonymised" if redact and redacted != tuple(shown) else "full"
            else:
                how = "excerpt"
            return InlineFile(**base, reproduction=how, lines=redacted, embedded=embedded)
    return InlineFile(**base, reproduction="described", embedded=embedded)


REPRODUCTION_WORDS = {
    "full": "reproduced in full",
    "pseudonymised": "reproduced in full, third-party identifiers pseudonymised",
    "image": "reproduced as an image",
    "excerpt": "first lines reproduced",
    "described": "described and identified by hash",
}


def _exhibit_reproduction(files: tuple[InlineFile, ...], record_shown: bool) -> str:
    parts = []
    if record_shown:
        parts.append("record summarised")
    for f in files:
        words = REPRODUCTION_WORDS[f.reproduction]
        if f.embedded:
            words += "; original embedded in this PDF"
        parts.append(f"{f.name}: {words}")
    return "; ".join(parts) or "identified by hash"


# ---------------------------------------------------------------- the document
def _source(g: Gathered, e: Evidence, *, public: bool) -> str:
    org = g.organisation["name"]
    if e.origin == "partner":
        return f"Shared by {e.partner} under TLP:{e.tlp.upper()}, received {e.received_at:%Y-%m-%d}"
    if e.origin == "upload":
        who = f"an investigator of {org}" if public else e.uploaded_by
        return f"Uploaded by {who} on {e.received_at:%Y-%m-%d}" + (
            "" if public or not e.upload_source else f" ({e.upload_source})"
        )
    method = METHODS.get(e.kind, e.kind.replace("_", " "))
    if public:
        return f"{org} abuse-detection records ({method})"
    return f"{org} detector {e.detector} v{e.detector_version} ({method})"


PUBLIC_ROLES = {
    "analyst": "investigator",
    "counsel": "counsel",
    "auditor": "auditor",
    "admin": "administrator",
}


def _public_custody(g: Gathered, rows: tuple[CustodyRow, ...]) -> tuple[CustodyRow, ...]:
    """Custody as a notice a platform may publish shows it: who by function, not by name or
    detector id, and no internal item names."""
    org = g.organisation["name"]

    def who(row: CustodyRow) -> str:
        if row.role in PUBLIC_ROLES:
            return f"{org} {PUBLIC_ROLES[row.role]}"
        if row.role == "detector" or row.who.startswith("detector"):
            return f"{org} abuse-detection system"
        return f"{org} evidence system"

    return tuple(CustodyRow(row.when, row.action, who(row), "", row.purpose, "") for row in rows)


def _exhibits(
    g: Gathered, chosen: list[Evidence], redact: Callable[[str], str] | None
) -> tuple[Exhibit, ...]:
    public = g.packet_type == "takedown"
    embed = g.packet_type != "takedown"
    exhibits = []
    for number, e in enumerate(chosen, start=1):
        files = tuple(reproduce(f, embedded=embed, redact=redact) for f in e.files)
        window = (
            f", observed {e.observed_from:%Y-%m-%d} to {e.observed_to:%Y-%m-%d}"
            if e.observed_from and e.observed_to
            else ""
        )
        description = (
            (redact(e.title) if redact else e.title)
            if e.origin == "upload"
            else f"{KIND_LABELS.get(e.kind, e.kind)}{window}"
        )
        exhibits.append(
            Exhibit(
                number=number,
                key=e.key,
                kind=e.kind,
                origin=e.origin,
                description=description,
                source=_source(g, e, public=public),
                sha256=e.sha256,
                date=e.date,
                received_at=e.received_at,
                observed_from=e.observed_from,
                observed_to=e.observed_to,
                reproduction=_exhibit_reproduction(files, not public and e.record is not None),
                summary="" if public else e.summary,
                confidence=None if public else e.confidence,
                severity="" if public else e.severity,
                metrics=() if public else e.metrics,
                subjects=() if public else e.subjects,
                files=files,
                custody=_public_custody(g, e.custody) if public else e.custody,
            )
        )
    return tuple(exhibits)


def chronology(g: Gathered, exhibits: tuple[Exhibit, ...]) -> list[ChronologyEntry]:
    """Outgoing packets: the conduct and our notices; internal steps only as counsel added them.

    The memo has the whole workflow history with reasons instead.
    """
    if g.packet_type == "memo":
        return [
            ChronologyEntry(
                s.key,
                s.when,
                f"{s.what} ({s.who})" + (f": {s.reason}" if s.reason else ""),
                internal=True,
            )
            for s in g.steps
        ]
    entries = []
    for e in exhibits:
        if e.observed_from and e.observed_to:
            label = f"{e.kind_label} (Exhibit {e.number})"
            entries.append(
                ChronologyEntry(f"{e.key}:first", e.observed_from, f"First observed: {label}")
            )
            entries.append(
                ChronologyEntry(f"{e.key}:last", e.observed_to, f"Last observed: {label}")
            )
    for n in g.notices:
        kind = "Takedown notice" if n.packet_type == "takedown" else "Referral"
        entries.append(ChronologyEntry(n.key, n.when, f"{kind} sent to {n.recipient}"))
    excluded = set(g.composition.chronology_excluded)
    entries = [e for e in entries if e.key not in excluded]
    steps = {s.key: s for s in g.steps}
    for key, wording in g.composition.chronology_internal.items():
        if key not in steps:
            raise InvalidInput(
                "some packet fields are not valid",
                details={"chronology_internal": f"{key} is not a workflow step of this case"},
            )
        entries.append(ChronologyEntry(key, steps[key].when, wording, internal=True))
    return sorted(entries, key=lambda e: (e.when, e.key))


def _conduct_statement(exhibits: tuple[Exhibit, ...]) -> list[str]:
    kinds = list(dict.fromkeys(e.kind for e in exhibits if e.kind in CONDUCT))
    return [CONDUCT[k] for k in kinds]


def _timeline(g: Gathered, exhibits: tuple[Exhibit, ...], entries: list[ChronologyEntry]):
    spans = [
        Span(f"Exhibit {e.number}: {e.kind_label}", e.observed_from, e.observed_to)
        for e in exhibits
        if e.observed_from and e.observed_to
    ]
    marks = [Mark(e.when, e.text) for e in entries if not e.key.endswith((":first", ":last"))]
    return timeline_svg(spans, marks, "Periods in which the conduct was observed")


def _indicators(
    exhibits: tuple[Exhibit, ...],
) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    found: dict[str, tuple[str, str, set[int]]] = {}
    for exhibit in exhibits:
        for kind, value in exhibit.subjects:
            key = f"{kind}\0{normalise(value)}"
            found.setdefault(key, (kind, " ".join(value.split()), set()))[2].add(exhibit.number)
    return tuple(
        (kind, value, tuple(sorted(numbers)))
        for kind, value, numbers in sorted(found.values(), key=lambda r: (r[0], r[1].casefold()))
    )


def _scale(g: Gathered, exhibits: tuple[Exhibit, ...]) -> dict[str, Any]:
    totals: dict[str, float] = {}
    for exhibit in exhibits:
        for key, value in exhibit.metrics:
            if key in ("requests", "accounts", "api_keys", "tokens") and isinstance(
                value, int | float
            ):
                totals[key] = totals.get(key, 0) + value
    return {
        "estimated_queries": g.case.get("estimated_queries"),
        "estimated_value": g.composition.estimated_value,
        "totals": sorted(totals.items()),
        "domains": g.case.get("targeted_domains") or [],
    }


def _person(p: Person | None, placeholder: str) -> dict[str, str]:
    if p is None:
        return {
            "full_name": placeholder,
            "title": "",
            "organisation": "",
            "postal_address": "",
            "phone": "",
            "email": "",
            "bar_admission": "",
            "qualification": "",
            "missing": "yes",
        }
    return {**p.__dict__, "missing": ""}


def _certification(g: Gathered, exhibits: tuple[Exhibit, ...]) -> dict[str, Any]:
    return {
        "custodian": _person(g.custodian, "[records custodian to be named]"),
        "place": g.organisation["place"],
        "date": g.built_at,
        "system": (
            f"the evidence system of {g.organisation['name']}, which stores each record "
            "write-once under the SHA-256 of its bytes and keeps a chain of custody for it"
        ),
        "method": (
            "SHA-256 (FIPS 180-4) computed server-side over the exact bytes received when each "
            "item was collected, and recomputed over the stored bytes when this packet was "
            "built; the two values were compared"
        ),
        "rows": [(e.number, e.description, e.reproduction, e.sha256) for e in exhibits],
    }


def build_document(g: Gathered) -> dict[str, Any]:
    """The template context of this packet, redacted by its type's profile."""
    c = g.composition
    chosen = selected_evidence(g)
    public = g.packet_type == "takedown"
    texts = [c.narrative, c.uploader, c.recipient]
    for e in chosen:
        texts += [e.title]
        for f in e.files:
            if _is_text(f.media_type) and f.size <= INLINE_LIMIT:
                texts.append(f.data.decode("utf-8", errors="replace"))
    if not public:
        texts += [v for e in chosen for _k, v in e.subjects]
    identifiers = review_identifiers(g, chosen, texts)
    redact = pseudonymiser(identifiers) if public else None
    exhibits = _exhibits(g, chosen, redact)
    start, end = conduct_period(chosen)
    entries = chronology(g, exhibits)
    narrative = redact(c.narrative) if redact else c.narrative
    basis = (c.basis or "terms") if g.packet_type == "takedown" else None
    accused = g.case.get("suspected_actor") or ""
    memo = g.packet_type == "memo"
    return {
        "doc": {
            "type": g.packet_type,
            "basis": basis,
            "basis_label": BASES.get(basis or "", ""),
            "title": TITLES[(g.packet_type, basis)],
            "subtitle": SUBTITLES.get((g.packet_type, basis), ""),
            "confidentiality": CONFIDENTIALITY[g.packet_type],
            "draft": g.draft,
            "packet_id": g.packet_id,
            "template_version": TEMPLATE_VERSION,
            "built_at": g.built_at,
            "privileged": memo,
        },
        "case": {
            "ref": g.case["ref"],
            "matter": _matter(g, c),
            "suspected_actor": redact(accused) if redact else accused,
            "jurisdiction": g.case.get("jurisdiction") or "",
            "created_at": g.case.get("created_at"),
            # The memo's assessment; outgoing packets neither show nor depend on these.
            **(
                {k: g.case.get(k) for k in ("state", "severity", "confidence", "chosen_actions")}
                if memo
                else {}
            ),
        },
        "period": {"start": start, "end": end},
        "composition": c,
        "narrative": render_markdown(narrative),
        "summary": render_markdown(g.case.get("summary")) if memo else Markup(""),
        "conduct": _conduct_statement(exhibits),
        "organisation": g.organisation,
        "signatory": _person(g.signatory, "[signatory to be named]"),
        "chronology": entries,
        "timeline_svg": _timeline(g, exhibits, entries),
        "clauses": g.clauses,
        "exhibits": exhibits,
        "show_internals": not public,
        "indicators": () if public else _indicators(exhibits),
        "scale": None if public else _scale(g, exhibits),
        "notes": g.notes if memo else (),
        "identifiers": identifiers,
        "certification": _certification(g, exhibits) if g.packet_type == "referral" else None,
        "images": {
            f.sha256: f.data for e in chosen for f in e.files if f.media_type in IMAGE_TYPES
        },
    }


def _matter(g: Gathered, c: Composition) -> str:
    if g.packet_type == "takedown":
        target = c.repository or (c.offending_urls[0] if c.offending_urls else "")
        return f"Removal of {target}" if target else "Removal of a distilled model"
    if g.packet_type == "referral":
        actor = g.case.get("suspected_actor") or "an unidentified party"
        return f"Unauthorized distillation of {g.organisation['name']}'s AI models by {actor}"
    return g.case.get("title") or g.case["ref"]


def toc(context: dict[str, Any]) -> list[tuple[str, str]]:
    """The contents: the type's sections, then the shared ones (long lists abridged)."""
    doc = context["doc"]
    sections = SECTIONS[(doc["type"], doc["basis"])]
    exhibits = context["exhibits"]
    listed = [(e.anchor, f"Exhibit {e.number}") for e in exhibits[:40]]
    rows = [*sections, ("exhibit-index", "Exhibit index"), *listed]
    if context["certification"]:
        rows.append(("certification", "Certification of records"))
    return rows


SECTIONS = {
    ("takedown", "terms"): [
        ("notice", "Complaint"),
        ("material", "1. The material complained of"),
        ("conduct", "2. The conduct and the terms breached"),
        ("chronology", "3. Chronology"),
        ("remedy", "4. Remedy sought"),
        ("statements", "5. Statement and signature"),
    ],
    ("takedown", "copyright"): [
        ("notice", "Notification"),
        ("work", "1. The copyrighted work"),
        ("material", "2. The infringing material and its location"),
        ("conduct", "3. How the work was copied"),
        ("chronology", "4. Chronology"),
        ("statements", "5. Statements and signature"),
    ],
    ("takedown", "dsa"): [
        ("notice", "Notice"),
        ("explanation", "1. Why the content is illegal"),
        ("material", "2. Exact electronic location"),
        ("chronology", "3. Chronology"),
        ("statements", "4. Notifier and statement"),
    ],
    ("referral", None): [
        ("narrative", "Referral"),
        ("parties", "1. Parties and jurisdictions"),
        ("discovery", "2. How and when the conduct was discovered"),
        ("chronology", "3. Chronology of the conduct"),
        ("measures", "4. Protective measures in force"),
        ("clauses", "5. Terms of service breached"),
        ("scale", "6. Scale and estimated value"),
        ("indicators", "7. Indicators"),
        ("contact", "8. Point of contact"),
    ],
    ("memo", None): [
        ("assessment", "Memorandum"),
        ("summary", "Case summary"),
        ("chronology", "Workflow history"),
        ("clauses", "Terms of service cited"),
        ("notes", "Counsel and investigator notes"),
    ],
}


def embedded_files(context: dict[str, Any], g: Gathered) -> list[ExhibitFile]:
    """Original evidence files embedded in the PDF: the reproduced exhibits' files, if allowed."""
    embedded = {(e.key, f.sha256) for e in context["exhibits"] for f in e.files if f.embedded}
    return [f for e in g.evidence for f in e.files if (e.key, f.sha256) in embedded and f.data]


def manifest(g: Gathered, context: dict[str, Any], inputs_sha256: str) -> bytes:
    """The JSON manifest embedded in every packet (stable bytes: sorted keys, fixed dates)."""
    body = {
        "schema": "compliance-packet-manifest/v2",
        "packet_id": g.packet_id,
        "case": g.case["ref"],
        "type": g.packet_type,
        "basis": context["doc"]["basis"],
        "draft": g.draft,
        "template_version": TEMPLATE_VERSION,
        "built_at": g.built_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bates": (
            None
            if g.bates_first is None
            else {"prefix": g.bates_prefix, "first": g.bates_first, "last": g.bates_last}
        ),
        "composition": g.composition.stored(),
        "inputs_sha256": inputs_sha256,
        "exhibits": [
            {
                "number": e.number,
                "key": e.key,
                "sha256": e.sha256,
                "reproduction": e.reproduction,
                "files": [{"name": f.name, "sha256": f.sha256} for f in e.files],
            }
            for e in context["exhibits"]
        ],
        "embedded_files": [
            {"name": f.name, "sha256": f.sha256} for f in embedded_files(context, g)
        ],
    }
    return json.dumps(body, sort_keys=True, indent=2).encode()
