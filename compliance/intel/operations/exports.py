"""Sharing a case with the forum: the preview (`prepare_export`, nothing stored), the confirmed
export (stored, recorded, audited) and the exports already made.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases.models import Case, CaseSubject, Subject
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound
from compliance.evidence.models import Finding
from compliance.evidence.schema import normalise_subject
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.intel import stix
from compliance.intel.models import (
    IntelExport,
)
from compliance.intel.operations.forum import shared_salt
from compliance.intel.operations.matching import DETECTOR_NAME
from compliance.intel.operations.tlp import SharingRefused, below_source_marking

_NONCE = re.compile(r"^[0-9a-f]{32}$")
_HEXRUN = re.compile(r"[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class PreparedExport:
    case: Case
    tlp: str
    recipient: str
    note: str
    nonce: str
    prepared_at: datetime
    subject_ids: list[int]
    finding_ids: list[int]
    bundle: stix.BuiltBundle


def case_subject_rows(case: Case) -> list[Subject]:
    """The case's subjects, shareable types first (what the export form offers)."""
    rows = db.session.scalars(
        select(Subject)
        .join(CaseSubject, CaseSubject.subject_id == Subject.id)
        .where(CaseSubject.case_id == case.id)
        .order_by(Subject.type, Subject.value)
    )
    return list(rows)


def case_findings(case: Case) -> list[Finding]:
    return list(
        db.session.scalars(
            select(Finding).where(Finding.case_id == case.id).order_by(Finding.observed_from)
        )
    )


def default_finding_ids(case: Case) -> list[int]:
    """Our own detectors' findings: intel we received is not ours to re-share by default."""
    return [f.id for f in case_findings(case) if f.detector_name != DETECTOR_NAME]


def _leaks(data: bytes, case: Case) -> list[str]:
    """Raw identifiers of hashed types that appear in the bundle (must be none)."""
    # Hex runs and UUIDs are hashes and ids; an identifier that looks like hex inside them is
    # a coincidence, not a leak.
    text = _HEXRUN.sub(" ", data.decode("utf-8").lower())
    found = []
    for subject in case_subject_rows(case):
        if subject.type not in stix.HASHED_TYPES:
            continue
        value = subject.value.lower()
        if re.search(rf"(?<![a-z0-9]){re.escape(value)}(?![a-z0-9])", text):
            found.append(f"{subject.type}:{subject.value}")
    return found


def prepare_export(
    case: Case,
    actor: Actor,
    *,
    tlp: str,
    recipient: str,
    subject_ids: list[int] | None = None,
    finding_ids: list[int] | None = None,
    note: str = "",
    nonce: str | None = None,
    prepared_at: datetime | None = None,
) -> PreparedExport:
    """Build (without storing) the bundle counsel is about to share; the preview shows this.

    `subject_ids` None means every hashed-type subject of the case (IP prefixes and e-mail
    domains go out only when chosen); `finding_ids` None means our own detectors' findings.
    The same nonce and time give the same bytes, so the confirmed export is what was previewed.
    """
    require_permission(actor, "intel.export")
    level = stix.parse_tlp(tlp)
    recipient, note, nonce = _checked_fields(recipient, note, nonce)
    chosen = _chosen_subjects(case, subject_ids)
    findings = {f.id: f for f in case_findings(case)}
    finding_ids = _chosen_finding_ids(case, findings, finding_ids)
    _refuse_below_source_marking(case, finding_ids, level)
    summaries = tuple(_summary(findings[finding_id]) for finding_id in finding_ids)
    prepared_at = (prepared_at or utcnow()).astimezone(UTC).replace(microsecond=0)
    # The campaign's period comes from findings that may themselves go out under this marking:
    # a date from a RED indicator must not reach a CLEAR bundle through the case's window.
    below = below_source_marking(case, list(findings), level)
    eligible = [f for f in findings.values() if f.id not in below]
    spec = stix.ExportSpec(
        case_ref=case.ref,
        organisation=current_app.config["INTEL_ORGANISATION"],
        tlp=level,
        salt=shared_salt(),
        nonce=nonce,
        prepared_at=prepared_at,
        subjects=tuple(stix.SharedSubject(s.type, s.value) for s in chosen),
        findings=summaries,
        first_seen=min((f.observed_from for f in eligible), default=None),
        last_seen=max((f.observed_to for f in eligible), default=None),
        note=note,
    )
    bundle = stix.build_bundle(spec)
    _refuse_leaks(bundle.data, case)
    return PreparedExport(
        case=case,
        tlp=level,
        recipient=recipient,
        note=note,
        nonce=nonce,
        prepared_at=prepared_at,
        subject_ids=[s.id for s in chosen],
        finding_ids=list(finding_ids),
        bundle=bundle,
    )


def _checked_fields(recipient: str, note: str, nonce: str | None) -> tuple[str, str, str]:
    """(recipient, note, nonce) cleaned; InvalidInput naming every field that is wrong."""
    recipient = (recipient or "").strip()
    note = (note or "").strip()
    errors: dict[str, str] = {}
    if not recipient:
        errors["recipient"] = "say who receives the bundle (the forum, a named lab)"
    elif len(recipient) > 300:
        errors["recipient"] = "at most 300 characters"
    if len(note) > 2000:
        errors["note"] = "at most 2000 characters"
    nonce = nonce or uuid.uuid4().hex
    if not _NONCE.match(nonce):
        errors["nonce"] = "not a valid preview id"
    if errors:
        raise InvalidInput("the export was not prepared", details=errors)
    return recipient, note, nonce


def _chosen_subjects(case: Case, subject_ids: list[int] | None) -> list[Subject]:
    """The subjects to share: those chosen (each once, in order), or every hashed-type one."""
    subjects = case_subject_rows(case)
    if subject_ids is None:
        return [s for s in subjects if s.type in stix.HASHED_TYPES]
    by_id = {s.id: s for s in subjects}
    unknown = sorted(set(subject_ids) - set(by_id))
    if unknown:
        raise InvalidInput(
            f"subject(s) {unknown} are not linked to {case.ref}",
            details={"subjects": "unknown subject"},
        )
    return [by_id[i] for i in dict.fromkeys(subject_ids)]


def _chosen_finding_ids(
    case: Case, findings: dict[int, Finding], finding_ids: list[int] | None
) -> list[int]:
    """The findings to summarise: those chosen (all on this case), or our detectors' own."""
    if finding_ids is None:
        finding_ids = default_finding_ids(case)
    unknown = sorted(set(finding_ids) - set(findings))
    if unknown:
        raise InvalidInput(
            f"finding(s) {unknown} are not on {case.ref}", details={"findings": "unknown finding"}
        )
    return finding_ids


def _refuse_below_source_marking(case: Case, finding_ids: list[int], level: str) -> None:
    """SharingRefused when a chosen finding's source marking forbids sharing it under `level`."""
    refused = below_source_marking(case, list(finding_ids), level)
    if refused:
        blocked = sorted(refused)
        sources = sorted(set(refused.values()))
        raise SharingRefused(
            f"finding(s) {', '.join(map(str, blocked))} derive from intel received under "
            f"{', '.join(sources)}: TLP forbids sharing it under TLP:{level.upper()}; "
            "leave them out",
            details={"findings": blocked},
        )


def _summary(finding: Finding) -> stix.FindingSummary:
    """What the forum learns of one finding: kind, window, counts and (normalised) subjects."""
    return stix.FindingSummary(
        finding_id=finding.id,
        kind=finding.kind,
        observed_from=finding.observed_from,
        observed_to=finding.observed_to,
        counts=stix.counts_of(finding.metrics),
        subjects=tuple(
            (s.get("type", ""), _normalised(s.get("type", ""), s.get("id", "")))
            for s in finding.subjects
        ),
    )


def _refuse_leaks(data: bytes, case: Case) -> None:
    """SharingRefused when the bundle carries a raw customer identifier (through the note)."""
    leaks = _leaks(data, case)
    if leaks:
        raise SharingRefused(
            "the bundle would contain raw customer identifiers ("
            + ", ".join(leaks[:5])
            + "): remove them from the note",
            details={"note": "contains a customer identifier"},
        )


def _normalised(subject_type: str, value: str) -> str:
    try:
        return normalise_subject(subject_type, value)
    except ValueError:
        return value


def export_case(
    case: Case,
    actor: Actor,
    *,
    expected_sha256: str | None = None,
    **options: Any,
) -> IntelExport:
    """Share a case's indicators: build, check against the preview, store, record, audit."""
    prepared = prepare_export(case, actor, **options)
    bundle = prepared.bundle
    if expected_sha256 and expected_sha256 != bundle.sha256:
        raise Conflict(
            f"{case.ref} changed since the preview (the bundle hash differs): review it again"
        )
    blob_store().put(bundle.data)
    export = IntelExport(
        case=case,
        recipient=prepared.recipient,
        tlp=prepared.tlp,
        bundle_id=bundle.bundle_id,
        sha256=bundle.sha256,
        size_bytes=len(bundle.data),
        shared_subjects=bundle.shared_subjects,
        shared_findings=bundle.shared_findings,
        note=prepared.note,
        created_by=actor.label,
        created_by_name=actor.name or actor.label,
        created_at=utcnow(),
    )
    db.session.add(export)
    db.session.flush()
    record(
        "intel.exported",
        actor=actor,
        object_type="intel_export",
        object_id=export.id,
        case=case,
        details={
            "recipient": export.recipient,
            "tlp": export.tlp_label,
            "sha256": export.sha256,
            "size": export.size_bytes,
            "bundle_id": export.bundle_id,
            "subjects": [f"{s['type']}:{s['shared_as']}" for s in bundle.shared_subjects],
            "findings": [f["finding_id"] for f in bundle.shared_findings],
        },
    )
    return export


def exports_for_case(case: Case) -> list[IntelExport]:
    return list(
        db.session.scalars(
            select(IntelExport)
            .where(IntelExport.case_id == case.id)
            .order_by(IntelExport.id.desc())
        )
    )


def get_export(case: Case, export_id: int) -> IntelExport:
    export = db.session.get(IntelExport, export_id)
    if export is None or export.case_id != case.id:
        raise NotFound(f"no intel export {export_id} in {case.ref}")
    return export
