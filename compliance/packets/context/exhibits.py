"""The exhibits as a packet prints them: how each is described, sourced and reproduced.

An `Exhibit` is one piece of `Evidence` made fit for the packet's recipient. A takedown (which
a platform may publish) names our detection methods by their public names, describes custody
by function rather than by person, reproduces text files with third parties' identifiers
pseudonymised and embeds no original file; a referral and a memo show the detector, the
metrics and the subjects, and embed the originals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compliance.packets.composition import Composition
from compliance.packets.context.facts import CustodyRow, Evidence, ExhibitFile, Gathered

INLINE_LIMIT = 64 * 1024  # text files up to this size are reproduced in full
PREVIEW_LINES = 12  # first lines shown of a larger text file
TEXT_TYPES = ("text/", "application/json", "application/x-ndjson", "application/csv")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
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


def printed_exhibits(
    g: Gathered, chosen: list[Evidence], redact: Callable[[str], str] | None
) -> tuple[Exhibit, ...]:
    """The chosen evidence as numbered exhibits, redacted by the packet type's profile."""
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


def reproduced_texts(c: Composition, chosen: list[Evidence], *, public: bool) -> list[str]:
    """The text the packet reproduces, where its identifiers are looked for: counsel's words,
    the exhibits' titles and small text files, and (outside a takedown) their subjects."""
    texts = [c.narrative, c.uploader, c.recipient]
    for e in chosen:
        texts += [e.title]
        for f in e.files:
            if _is_text(f.media_type) and f.size <= INLINE_LIMIT:
                texts.append(f.data.decode("utf-8", errors="replace"))
    if not public:
        texts += [v for e in chosen for _k, v in e.subjects]
    return texts
