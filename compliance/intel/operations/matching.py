"""Matching kept bundles against our subjects (hashed identifiers, e-mail domains, IP prefixes):
matches recorded per case, and on open cases an account_linkage finding from
"industry-sharing" per (bundle, case), ingested the normal way.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.cases.models import OPEN_STATES, Case, CaseSubject, Subject
from compliance.db import chunked, utcnow
from compliance.extensions import db
from compliance.intel import stix
from compliance.intel.models import (
    IntelImport,
    IntelIndicator,
    IntelMatch,
)
from compliance.intel.operations.forum import shared_salt, stored_bundle

DETECTOR_NAME = "industry-sharing"
DETECTOR_VERSION = "1.0"


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
