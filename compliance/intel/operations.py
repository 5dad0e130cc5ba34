"""Intel-sharing business rules: export a case as STIX, import other labs' bundles, match them
against our subjects, and enforce TLP on what leaves the building.

Operations flush and audit in the caller's transaction; they never commit.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases.models import OPEN_STATES, Case, CaseSubject, Subject
from compliance.db import chunked, utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, OperationError
from compliance.evidence.models import EvidenceItem, Finding
from compliance.evidence.schema import nesting_depth, normalise_subject
from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes
from compliance.extensions import db
from compliance.intel import stix
from compliance.intel.models import (
    RESTRICTED_TLP,
    IntelExport,
    IntelImport,
    IntelIndicator,
    IntelMatch,
)
from compliance.packets.models import EXTERNAL_TYPES

DETECTOR_NAME = "industry-sharing"
DETECTOR_VERSION = "1.0"
DEMO_SALT = "distillation-forum-DEMO-salt-replace-me"
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_HEXRUN = re.compile(r"[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class SharingRefused(OperationError):
    """TLP forbids it: material received under AMBER+STRICT or RED stays in the building."""

    status = 409
    code = "tlp_restricted"


def shared_salt() -> str:
    """The forum's salt; production refuses to hash with the demo default."""
    salt = current_app.config["INTEL_SHARED_SALT"]
    if not salt:
        raise Conflict("INTEL_SHARED_SALT is empty: set it to the salt the forum distributes")
    if salt == DEMO_SALT and current_app.config["ENV"] == "production":
        raise Conflict(
            "INTEL_SHARED_SALT is still the demo default: set it to the salt the forum "
            "distributes before sharing or matching indicators"
        )
    return salt


# ---------------------------------------------------------------- TLP enforcement
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


def check_packet_allowed(case: Case, packet_type: str) -> None:
    """Refuse a takedown or referral packet for a case holding restricted intel."""
    if packet_type not in EXTERNAL_TYPES:
        return
    message = restriction_message(case, f"a {packet_type} packet")
    if message:
        raise SharingRefused(
            message, details={"evidence_items": sorted(restricted_evidence_ids(case))}
        )


# ---------------------------------------------------------------- export
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

    subjects = case_subject_rows(case)
    by_id = {s.id: s for s in subjects}
    if subject_ids is None:
        chosen = [s for s in subjects if s.type in stix.HASHED_TYPES]
    else:
        unknown = sorted(set(subject_ids) - set(by_id))
        if unknown:
            raise InvalidInput(
                f"subject(s) {unknown} are not linked to {case.ref}",
                details={"subjects": "unknown subject"},
            )
        chosen = [by_id[i] for i in dict.fromkeys(subject_ids)]
    findings = {f.id: f for f in case_findings(case)}
    if finding_ids is None:
        finding_ids = default_finding_ids(case)
    unknown = sorted(set(finding_ids) - set(findings))
    if unknown:
        raise InvalidInput(
            f"finding(s) {unknown} are not on {case.ref}", details={"findings": "unknown finding"}
        )
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
    summaries = []
    for finding_id in finding_ids:
        finding = findings[finding_id]
        summaries.append(
            stix.FindingSummary(
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
        )
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
        findings=tuple(summaries),
        first_seen=min((f.observed_from for f in eligible), default=None),
        last_seen=max((f.observed_to for f in eligible), default=None),
        note=note,
    )
    bundle = stix.build_bundle(spec)
    leaks = _leaks(bundle.data, case)
    if leaks:
        raise SharingRefused(
            "the bundle would contain raw customer identifiers ("
            + ", ".join(leaks[:5])
            + "): remove them from the note",
            details={"note": "contains a customer identifier"},
        )
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


def stored_bundle(sha256: str) -> bytes:
    """A stored bundle's bytes, checked against their hash."""
    try:
        return checked_bytes(blob_store(), sha256)
    except BlobDamaged as damage:
        raise Conflict(f"the bundle is {damage.status} in the store (sha256={sha256})") from None


# ---------------------------------------------------------------- import and matching
@dataclass
class ImportOutcome:
    intel_import: IntelImport
    duplicate: bool
    matches: list[IntelMatch] = field(default_factory=list)


def check_bundle_shape(data: bytes, max_objects: int, max_depth: int) -> None:
    """Refuse a bundle that is too deep or holds too many objects, before STIX parsing.

    A deeply nested bundle would exhaust the STIX library's recursion, and each object costs
    matching time on import (12,000 indicators took 17 s): both are limits, not crashes.
    """
    try:
        raw = json.loads(data)
    except RecursionError:
        raw = None
    except ValueError:
        return  # not JSON at all: read_bundle says so in its own words
    if raw is None or nesting_depth(raw, max_depth) > max_depth:
        message = f"the bundle nests deeper than {max_depth} levels (INTEL_MAX_BUNDLE_DEPTH)"
        raise InvalidInput(message, details={"bundle": message})
    objects = raw.get("objects") if isinstance(raw, dict) else None
    if isinstance(objects, list) and len(objects) > max_objects:
        message = (
            f"the bundle holds {len(objects):,} objects, more than the {max_objects:,} allowed "
            "(INTEL_MAX_BUNDLE_OBJECTS): ask the sender to split it"
        )
        raise InvalidInput(message, details={"bundle": message})


def import_bundle(
    data: bytes,
    actor: Actor,
    *,
    source: str,
    filename: str = "",
    feed_id: int | None = None,
) -> ImportOutcome:
    """Validate and keep a bundle from another lab, then match it against our subjects.

    Invalid bundles raise InvalidInput before anything is stored. A bundle received before
    (same SHA-256) is not stored twice. The bundle's TLP is the most restrictive marking in
    it, on any object or property (`stix.read_bundle`): it governs everything derived from it.
    """
    require_permission(actor, "intel.import")
    source = (source or "").strip()
    if not source:
        raise InvalidInput(
            "say which lab sent the bundle", details={"source": "required (the sending lab)"}
        )
    if len(source) > 300:
        raise InvalidInput("the source is too long", details={"source": "at most 300 characters"})
    config = current_app.config
    check_bundle_shape(data, config["INTEL_MAX_BUNDLE_OBJECTS"], config["INTEL_MAX_BUNDLE_DEPTH"])
    received = stix.read_bundle(
        data,
        max_bytes=config["INTEL_MAX_BUNDLE_BYTES"],
        unmarked_policy=config["INTEL_UNMARKED_POLICY"],
    )
    salt = shared_salt()
    sha256 = hashlib.sha256(data).hexdigest()
    existing = db.session.scalar(select(IntelImport).where(IntelImport.sha256 == sha256))
    if existing is not None:
        return ImportOutcome(existing, duplicate=True)
    blob_store().put(data)
    intel_import = IntelImport(
        source=source,
        filename=(filename or "")[:255],
        tlp=received.tlp,
        tlp_assumed=received.tlp_assumed,
        bundle_id=received.bundle_id,
        sha256=sha256,
        size_bytes=len(data),
        object_count=received.object_count,
        indicator_count=received.indicator_count,
        matched_through_subject_id=0,
        first_seen=received.first_seen,
        last_seen=received.last_seen,
        valid_from=received.valid_from,
        feed_id=feed_id,
        imported_by=actor.label,
        imported_by_name=actor.name or actor.label,
        imported_at=utcnow(),
    )
    db.session.add(intel_import)
    db.session.add_all(
        IntelIndicator(
            intel_import=intel_import,
            stix_id=i.stix_id,
            name=i.name,
            match_kind=i.match_kind,
            subject_type=i.subject_type,
            value=i.value,
            valid_from=i.valid_from,
            valid_until=i.valid_until,
        )
        for i in received.indicators
    )
    db.session.flush()
    record(
        "intel.imported",
        actor=actor,
        object_type="intel_import",
        object_id=intel_import.id,
        details={
            "source": source,
            "tlp": intel_import.tlp_label,
            "tlp_assumed": received.tlp_assumed,
            "sha256": sha256,
            "size": len(data),
            "bundle_id": received.bundle_id,
            "objects": received.object_count,
            "indicators": received.indicator_count,
            "matchable": len(received.indicators),
            "salt_id": stix.salt_id(salt),
            "feed_id": feed_id,
        },
    )
    matches = match_imports(actor, [intel_import])
    return ImportOutcome(intel_import, duplicate=False, matches=matches)


def _subject_keys(subjects: list[Subject], salt: str) -> dict[tuple[str, str], list[Subject]]:
    """(match kind, value) -> our subjects, computed the way the sender computed theirs."""
    keys: dict[tuple[str, str], list[Subject]] = {}
    for subject in subjects:
        if subject.type in stix.HASHED_TYPES:
            key = ("hmac", stix.subject_hmac(salt, subject.type, subject.value))
        elif subject.type == "email_domain":
            key = ("domain", subject.value)
        else:
            continue
        keys.setdefault(key, []).append(subject)
    return keys


def _networks_overlap(a: str, b: str) -> bool:
    net_a, net_b = ipaddress.ip_network(a, strict=False), ipaddress.ip_network(b, strict=False)
    return net_a.version == net_b.version and net_a.overlaps(net_b)


def match_imports(actor: Actor, imports: list[IntelImport] | None = None) -> list[IntelMatch]:
    """Match kept bundles against subjects that arrived since each was last matched.

    New matches are recorded; on open cases each (bundle, case) pair becomes an
    account_linkage finding from "industry-sharing", ingested the normal way (custody, audit).
    """
    if imports is None:
        imports = list(db.session.scalars(select(IntelImport).order_by(IntelImport.id)))
    if not imports:
        return []
    salt = shared_salt()
    high = db.session.scalar(select(Subject.id).order_by(Subject.id.desc()).limit(1)) or 0
    low = min(i.matched_through_subject_id for i in imports)
    by_id = {i.id: i for i in imports}
    candidates: list[tuple[IntelIndicator, Subject]] = []
    if high > low:
        subjects = list(
            db.session.scalars(
                select(Subject).where(Subject.id > low, Subject.id <= high).order_by(Subject.id)
            )
        )
        keys = _subject_keys(subjects, salt)
        for kind in ("hmac", "domain"):
            values = sorted(v for k, v in keys if k == kind)
            for chunk in chunked(values):
                for indicator in db.session.scalars(
                    select(IntelIndicator).where(
                        IntelIndicator.import_id.in_(sorted(by_id)),
                        IntelIndicator.match_kind == kind,
                        IntelIndicator.value.in_(chunk),
                    )
                ):
                    for subject in keys[(kind, indicator.value)]:
                        candidates.append((indicator, subject))
        prefixes = [s for s in subjects if s.type == "ip_prefix"]
        if prefixes:
            for indicator in db.session.scalars(
                select(IntelIndicator).where(
                    IntelIndicator.import_id.in_(sorted(by_id)),
                    IntelIndicator.match_kind == "ip_prefix",
                )
            ):
                candidates += [
                    (indicator, s) for s in prefixes if _networks_overlap(indicator.value, s.value)
                ]
    # Only subjects this import has not been matched against yet.
    candidates = [
        (i, s) for i, s in candidates if s.id > by_id[i.import_id].matched_through_subject_id
    ]
    new_matches = _record_matches(candidates)
    now = utcnow()
    for intel_import in imports:
        intel_import.matched_through_subject_id = max(intel_import.matched_through_subject_id, high)
        intel_import.last_matched_at = now
    db.session.flush()
    _findings_for(new_matches, actor)
    for import_id in sorted({m.import_id for m in new_matches}):
        mine = [m for m in new_matches if m.import_id == import_id]
        record(
            "intel.matched",
            actor=actor,
            object_type="intel_import",
            object_id=import_id,
            details={
                "matches": len(mine),
                "cases": sorted({m.case.ref for m in mine}),
                "findings": sorted({m.finding_id for m in mine if m.finding_id}),
            },
        )
    return new_matches


def _record_matches(candidates: list[tuple[IntelIndicator, Subject]]) -> list[IntelMatch]:
    if not candidates:
        return []
    subject_ids = sorted({s.id for _i, s in candidates})
    links: dict[int, list[int]] = {}
    for chunk in chunked(subject_ids):
        for subject_id, case_id in db.session.execute(
            select(CaseSubject.subject_id, CaseSubject.case_id).where(
                CaseSubject.subject_id.in_(chunk)
            )
        ):
            links.setdefault(subject_id, []).append(case_id)
    existing = {
        (m.indicator_id, m.subject_id, m.case_id)
        for m in db.session.scalars(
            select(IntelMatch).where(IntelMatch.subject_id.in_(subject_ids))
        )
    }
    now = utcnow()
    matches = []
    for indicator, subject in candidates:
        for case_id in sorted(links.get(subject.id, [])):
            key = (indicator.id, subject.id, case_id)
            if key in existing:
                continue
            existing.add(key)
            match = IntelMatch(
                import_id=indicator.import_id,
                indicator_id=indicator.id,
                subject_id=subject.id,
                case_id=case_id,
                matched_at=now,
            )
            db.session.add(match)
            matches.append(match)
    db.session.flush()
    return matches


def _findings_for(matches: list[IntelMatch], actor: Actor) -> None:
    """One account_linkage finding per (bundle, open case), through the evidence ingestion."""
    from compliance.evidence.operations import ingest_findings

    groups: dict[tuple[int, int], list[IntelMatch]] = {}
    for match in matches:
        groups.setdefault((match.import_id, match.case_id), []).append(match)
    for (import_id, case_id), group in sorted(groups.items()):
        case = db.session.get(Case, case_id)
        if case is None or case.state not in OPEN_STATES:
            continue  # recorded as a match; a closed case gets no new evidence
        intel_import = db.session.get(IntelImport, import_id)
        subjects = {m.subject_id: db.session.get(Subject, m.subject_id) for m in group}
        indicators = {m.indicator_id: m.indicator for m in group}
        bundle = stored_bundle(intel_import.sha256)
        observed_from, observed_to = _observation_window(bundle, indicators.values())
        types = sorted({s.type.replace("_", " ") for s in subjects.values()})
        body = {
            "schema": "distillation-finding/v1",
            "detector": {"name": DETECTOR_NAME, "version": DETECTOR_VERSION},
            "external_id": f"intel-{import_id}-case-{case_id}-m{min(m.id for m in group)}",
            "kind": "account_linkage",
            "observed_from": observed_from.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "observed_to": observed_to.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "confidence": 0.75,
            "severity": "high" if intel_import.restricted else "medium",
            "subjects": [{"type": s.type, "id": s.value} for s in subjects.values()],
            "metrics": {
                "indicators_matched": len(indicators),
                "subjects_matched": len(subjects),
                "bundle_indicators": intel_import.indicator_count,
                "import_id": import_id,
                "tlp": intel_import.tlp_label,
            },
            "summary": (
                f"{intel_import.source} shared {len(indicators)} indicator(s) under "
                f"{intel_import.tlp_label} that match {len(subjects)} of our subject(s) on this "
                f"case ({', '.join(types)}). Bundle sha256 {intel_import.sha256}, "
                f"intel import #{import_id}."
                + (
                    " Received under a restricted TLP: never include it in takedown packets, "
                    "referrals or exports."
                    if intel_import.restricted
                    else ""
                )
            ),
            "attachments": [
                {
                    "name": f"stix-bundle-import-{import_id}.json",
                    "media_type": "application/json",
                    "content_base64": base64.b64encode(bundle).decode(),
                }
            ],
        }
        limit = max(
            current_app.config["MAX_ATTACHMENT_BYTES"],
            current_app.config["INTEL_MAX_BUNDLE_BYTES"],
        )
        outcome = ingest_findings(
            body, actor, channel="intel-import", into_case=case, max_attachment_bytes=limit
        )[0]
        for match in group:
            match.finding_id = outcome.finding_id
    db.session.flush()


def _observation_window(bundle: bytes, indicators: Any) -> tuple[datetime, datetime]:
    """When the partner observed the conduct: the bundle's own dates, never our import time.

    `first_seen`/`last_seen` (campaigns, sightings) and `first_observed`/`last_observed`
    (observed-data) give the window; an indicator's `valid_from` says when the indicator began
    to hold. `valid_until` is when it stops being valid (often in the future): not an
    observation, so it never extends the window.
    """
    starts = [i.valid_from for i in indicators if i.valid_from]
    ends: list[datetime] = []
    for obj in json.loads(bundle).get("objects", []):
        if not isinstance(obj, dict):
            continue
        for key, into in (
            ("first_seen", starts),
            ("first_observed", starts),
            ("last_seen", ends),
            ("last_observed", ends),
        ):
            value = obj.get(key)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
                    into.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    observed_from = min(starts)  # every STIX indicator has a valid_from
    observed_to = max([*ends, observed_from])
    return observed_from, observed_to


def matches_for_case(case: Case) -> list[IntelMatch]:
    return list(
        db.session.scalars(
            select(IntelMatch).where(IntelMatch.case_id == case.id).order_by(IntelMatch.id)
        )
    )


def list_imports(limit: int = 200) -> list[IntelImport]:
    return list(
        db.session.scalars(select(IntelImport).order_by(IntelImport.id.desc()).limit(limit))
    )


def match_counts(import_ids: list[int]) -> dict[int, int]:
    if not import_ids:
        return {}
    rows = db.session.execute(
        select(IntelMatch.import_id, func.count())
        .where(IntelMatch.import_id.in_(import_ids))
        .group_by(IntelMatch.import_id)
    )
    return {import_id: count for import_id, count in rows}
