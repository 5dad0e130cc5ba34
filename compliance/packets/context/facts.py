"""The facts a packet may draw on, as gathered from the database (before any redaction).

`Gathered` holds them all: the case, its notes and workflow steps, the notices already sent,
the evidence (each finding or uploaded file with its files and chain of custody), the clauses
cited, and the people who sign or certify. `packets.operations.gather` fills it once per build.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from compliance.packets.composition import Composition


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


def conduct_period(evidence: Iterable[Evidence]) -> tuple[datetime | None, datetime | None]:
    """When the conduct was observed, from the exhibits' own windows (never receipt times)."""
    starts = [e.observed_from for e in evidence if e.observed_from]
    ends = [e.observed_to for e in evidence if e.observed_to]
    return (min(starts) if starts else None, max(ends) if ends else None)
