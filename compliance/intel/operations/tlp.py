"""TLP enforcement: which findings and evidence of a case derive from received intel, under
which marking, and what that marking keeps from leaving the building.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from compliance.cases.models import Case
from compliance.errors import OperationError
from compliance.evidence.models import EvidenceItem, Finding
from compliance.extensions import db
from compliance.intel import stix
from compliance.intel.models import (
    RESTRICTED_TLP,
    IntelImport,
    IntelMatch,
)


class SharingRefused(OperationError):
    """TLP forbids it: material received under AMBER+STRICT or RED stays in the building."""

    status = 409
    code = "tlp_restricted"


@dataclass(frozen=True)
class IntelProvenance:
    """Where an intel-derived finding of a case came from, and the marking that governs it."""

    finding_id: int
    import_id: int
    tlp: str  # the effective TLP: the most restrictive marking anywhere in the source bundle
    tlp_assumed: bool  # the bundle was unmarked and configuration assigned the TLP
    source: str  # the partner lab that sent it
    restricted: bool  # AMBER+STRICT or RED: never leaves the building
    first_seen: datetime | None  # the period of conduct the partner reports
    last_seen: datetime | None
    valid_from: datetime | None  # the earliest indicator valid_from in the bundle
    imported_at: datetime  # when we received it (a different fact from the conduct)


def intel_findings(case: Case) -> dict[int, IntelProvenance]:
    """Every finding now on `case` derived from received intel -> its provenance and TLP.

    Joined through the finding, so it follows merges. Packets use it to keep restricted intel
    out of dates, counts and windows that leave the building.
    """
    rows = db.session.execute(
        select(Finding.id, IntelImport)
        .join(IntelMatch, IntelMatch.finding_id == Finding.id)
        .join(IntelImport, IntelImport.id == IntelMatch.import_id)
        .where(Finding.case_id == case.id)
        .order_by(Finding.id, IntelImport.id)
    )
    found: dict[int, IntelProvenance] = {}
    for finding_id, intel_import in rows:
        previous = found.get(finding_id)
        if previous is not None and stix.TLP_ORDER.index(previous.tlp) >= stix.TLP_ORDER.index(
            intel_import.tlp
        ):
            continue  # one finding per bundle by construction; the stricter source wins anyway
        found[finding_id] = IntelProvenance(
            finding_id=finding_id,
            import_id=intel_import.id,
            tlp=intel_import.tlp,
            tlp_assumed=intel_import.tlp_assumed,
            source=intel_import.source,
            restricted=intel_import.restricted,
            first_seen=intel_import.first_seen,
            last_seen=intel_import.last_seen,
            valid_from=intel_import.valid_from,
            imported_at=intel_import.imported_at,
        )
    return found


def below_source_marking(case: Case, finding_ids: list[int], level: str) -> dict[int, str]:
    """Findings that may not go out under `level`: finding id -> why.

    Material received under AMBER+STRICT or RED never leaves; anything else never leaves
    under a marking less restrictive than the one it came with.
    """
    provenance = intel_findings(case)
    refused = {}
    for finding_id in finding_ids:
        source = provenance.get(finding_id)
        if source is None:
            continue
        if source.restricted:
            refused[finding_id] = f"{source.source} (TLP:{source.tlp.upper()})"
        elif stix.TLP_ORDER.index(level) < stix.TLP_ORDER.index(source.tlp):
            refused[finding_id] = (
                f"{source.source} (TLP:{source.tlp.upper()}, not below it: "
                f"TLP:{level.upper()} asked)"
            )
    return refused


def restricted_finding_ids(case: Case) -> dict[int, IntelImport]:
    """Findings now on `case` derived from AMBER+STRICT or RED bundles -> the import."""
    rows = db.session.execute(
        select(Finding.id, IntelImport)
        .join(IntelMatch, IntelMatch.finding_id == Finding.id)
        .join(IntelImport, IntelImport.id == IntelMatch.import_id)
        .where(Finding.case_id == case.id, IntelImport.tlp.in_(RESTRICTED_TLP))
    )
    return {finding_id: intel_import for finding_id, intel_import in rows}


def restricted_evidence_ids(case: Case) -> set[int]:
    """Evidence items of `case` that came from AMBER+STRICT or RED intel (never leave the building).

    The packet builder calls this before building anything that goes outside (takedown,
    referral); the exporter before a bundle. Joined through the finding, so it follows merges.
    """
    findings = restricted_finding_ids(case)
    if not findings:
        return set()
    return set(
        db.session.scalars(
            select(EvidenceItem.id).where(
                EvidenceItem.case_id == case.id, EvidenceItem.finding_id.in_(sorted(findings))
            )
        )
    )


def restriction_message(case: Case, purpose: str) -> str | None:
    """Why `purpose` (e.g. 'a takedown packet') may not include this case's evidence, or None."""
    findings = restricted_finding_ids(case)
    if not findings:
        return None
    sources = sorted({f"{i.source} ({i.tlp_label}, import #{i.id})" for i in findings.values()})
    items = sorted(restricted_evidence_ids(case))
    return (
        f"{case.ref} holds intel received under TLP:AMBER+STRICT or TLP:RED from "
        f"{', '.join(sources)}: evidence item(s) {', '.join(f'#{i}' for i in items)} "
        f"(finding(s) {', '.join(str(f) for f in sorted(findings))}) may not appear in {purpose}. "
        "Ask the originator to re-mark it, or keep it to internal documents (the memo)."
    )
