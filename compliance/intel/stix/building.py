"""Building our bundle for one case: identity, campaign, indicators with their observables,
observed-data summarising findings, and the relationships between them.

The bytes are deterministic: object ids derive from the export's nonce and every timestamp
from the spec, so the same spec always gives the same bundle (the preview's hash is the
export's, and partners' OpenCTI/MISP see stable ids).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stix2

from compliance.errors import InvalidInput
from compliance.intel.stix.markings import tlp_marking
from compliance.intel.stix.vocabulary import (
    HASH_SCHEME,
    HASHED_TYPES,
    OBSERVATION_EXTENSION,
    SUBJECT_OBJECT,
    DistillationObservation,
    DistillationSubject,
    extension_definitions,
    salt_id,
    subject_hmac,
)

# Object ids are derived from the export's nonce, so a preview and its confirmation produce
# the same bytes (and the hash counsel saw is the hash recorded).
_NAMESPACE = uuid.UUID("8a0e3c2e-4d1f-4b8e-9a55-2f6c1c0d7e11")
_IDENTITY_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
_COUNT_KEYS = ("requests", "accounts", "api_keys", "tokens", "prompts", "orgs", "templates")


@dataclass(frozen=True)
class SharedSubject:
    """A subject counsel chose to share (the raw value stays inside; see `shared_value`)."""

    type: str
    value: str

    @property
    def hashed(self) -> bool:
        return self.type in HASHED_TYPES


@dataclass(frozen=True)
class FindingSummary:
    """What the forum learns about one finding: kind, window, counts, which shared subjects."""

    finding_id: int
    kind: str
    observed_from: datetime
    observed_to: datetime
    counts: dict[str, int]
    subjects: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ExportSpec:
    case_ref: str
    organisation: str
    tlp: str
    salt: str
    nonce: str
    prepared_at: datetime
    subjects: tuple[SharedSubject, ...]
    findings: tuple[FindingSummary, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    note: str = ""


@dataclass
class BuiltBundle:
    data: bytes
    sha256: str
    bundle_id: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    shared_subjects: list[dict[str, str]] = field(default_factory=list)
    shared_findings: list[dict[str, Any]] = field(default_factory=list)
    skipped_findings: list[int] = field(default_factory=list)


def counts_of(metrics: dict[str, Any]) -> dict[str, int]:
    """Only counts leave the building: similarity scores and thresholds are detector internals."""
    return {
        key: value
        for key, value in sorted((metrics or {}).items())
        if key in _COUNT_KEYS and isinstance(value, int) and not isinstance(value, bool)
    }


def _v4(nonce: str, key: str) -> str:
    # Deterministic, but shaped as a version-4 UUID as STIX 2.1 asks for SDO/SRO ids.
    digest = uuid.uuid5(_NAMESPACE, f"{nonce}:{key}").bytes
    return str(uuid.UUID(bytes=digest, version=4))


def _ms(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def _pattern_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _observable_and_pattern(
    subject: SharedSubject, spec: ExportSpec, marking: list[str]
) -> tuple[Any, str, str, dict[str, str]]:
    """(SCO, indicator pattern, indicator name, what the export record keeps)."""
    if subject.hashed:
        digest = subject_hmac(spec.salt, subject.type, subject.value)
        sco = DistillationSubject(
            # Shaped as UUIDv4 (validators only know the id rules of the standard SCO types),
            # derived from the hash so the same subject has the same id in every export.
            id=f"{SUBJECT_OBJECT}--" + _v4("subject", f"{subject.type}:{digest}"),
            subject_type=subject.type,
            hmac_sha256=digest,
            hash_scheme=HASH_SCHEME,
            salt_id=salt_id(spec.salt),
            object_marking_refs=marking,
        )
        pattern = (
            f"[{SUBJECT_OBJECT}:subject_type = '{subject.type}' AND "
            f"{SUBJECT_OBJECT}:hmac_sha256 = '{digest}']"
        )
        label = subject.type.replace("_", " ")
        return (
            sco,
            pattern,
            f"Hashed {label} used in a distillation campaign",
            {
                "type": subject.type,
                "shared_as": HASH_SCHEME,
                "value": digest,
            },
        )
    if subject.type == "ip_prefix":
        network = ipaddress.ip_network(subject.value, strict=False)
        kind = "ipv4-addr" if network.version == 4 else "ipv6-addr"
        sco_class = stix2.IPv4Address if network.version == 4 else stix2.IPv6Address
        sco = sco_class(value=str(network), object_marking_refs=marking)
        pattern = f"[{kind}:value ISSUBSET '{_pattern_value(str(network))}']"
        return (
            sco,
            pattern,
            f"Network {network} used in a distillation campaign",
            {
                "type": subject.type,
                "shared_as": "clear",
                "value": str(network),
            },
        )
    if subject.type == "email_domain":
        sco = stix2.DomainName(value=subject.value, object_marking_refs=marking)
        pattern = f"[domain-name:value = '{_pattern_value(subject.value)}']"
        return (
            sco,
            pattern,
            f"E-mail domain {subject.value} used in a distillation campaign",
            {
                "type": subject.type,
                "shared_as": "clear",
                "value": subject.value,
            },
        )
    raise InvalidInput(f"subjects of type {subject.type} cannot be shared")


def build_bundle(spec: ExportSpec) -> BuiltBundle:
    """Our STIX 2.1 bundle for one case: identity, campaign, indicators, observed-data, links."""
    if not spec.subjects:
        raise InvalidInput(
            "choose at least one subject to share", details={"subjects": "none chosen"}
        )
    tlp = tlp_marking(spec.tlp)
    marking = [tlp.id]
    identity = _identity(spec.organisation, marking)
    now = _ms(spec.prepared_at)
    common = {
        "created": now,
        "modified": now,
        "created_by_ref": identity.id,
        "object_marking_refs": marking,
    }
    campaign = _campaign(spec, common)
    shared = _subject_objects(spec, marking, common, campaign.id)
    observed, shared_findings, skipped = _finding_objects(spec, common, shared)
    objects: list[Any] = [
        tlp,
        identity,
        *extension_definitions(identity.id, marking),
        campaign,
        *shared.objects,
        *observed,
    ]
    bundle = stix2.Bundle(id="bundle--" + _v4(spec.nonce, "bundle"), objects=objects)
    data = bundle.serialize(pretty=True).encode("utf-8")
    return BuiltBundle(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        bundle_id=bundle.id,
        objects=json.loads(data)["objects"],
        shared_subjects=shared.records,
        shared_findings=shared_findings,
        skipped_findings=skipped,
    )


def _identity(organisation: str, marking: list[str]) -> Any:
    """Our organisation, with the same id in every export (partners' OpenCTI merges on it)."""
    return stix2.Identity(
        id="identity--"
        + str(uuid.UUID(bytes=uuid.uuid5(_NAMESPACE, organisation).bytes, version=4)),
        created=_IDENTITY_CREATED,
        modified=_IDENTITY_CREATED,
        name=organisation,
        identity_class="organization",
        sectors=["technology"],
        object_marking_refs=marking,
    )


def _campaign(spec: ExportSpec, common: dict[str, Any]) -> Any:
    """The case as a campaign: counsel's note in its description, the period when known."""
    campaign_fields: dict[str, Any] = {
        "id": "campaign--" + _v4(spec.nonce, "campaign"),
        "name": f"Distillation campaign {spec.case_ref}",
        "description": (
            "Automated, large-scale querying of a frontier model's API to collect outputs "
            "for training a competing model, in breach of the provider's terms of service."
            + (f"\n\n{spec.note.strip()}" if spec.note.strip() else "")
        ),
        "objective": "Unauthorized distillation of a frontier AI model",
        **common,
    }
    if spec.first_seen:
        campaign_fields["first_seen"] = _ms(spec.first_seen)
    if spec.last_seen:
        campaign_fields["last_seen"] = _ms(spec.last_seen)
    return stix2.Campaign(**campaign_fields)


@dataclass
class _SharedObjects:
    """The objects built for the shared subjects, and what the export record keeps of them."""

    objects: list[Any] = field(default_factory=list)  # observable, indicator, relationship
    observables: dict[tuple[str, str], Any] = field(default_factory=dict)
    indicators: dict[tuple[str, str], Any] = field(default_factory=dict)
    records: list[dict[str, str]] = field(default_factory=list)


def _subject_objects(
    spec: ExportSpec, marking: list[str], common: dict[str, Any], campaign_id: str
) -> _SharedObjects:
    """Per shared subject (sorted, once each): its observable, an indicator, indicates->campaign."""
    shared = _SharedObjects()
    valid_from = _ms(spec.first_seen or spec.prepared_at)
    for subject in sorted(set(spec.subjects), key=lambda s: (s.type, s.value)):
        sco, pattern, name, record = _observable_and_pattern(subject, spec, marking)
        key = (subject.type, subject.value)
        indicator = stix2.Indicator(
            id="indicator--" + _v4(spec.nonce, f"indicator:{record['type']}:{record['value']}"),
            name=name,
            description=(
                f"{subject.type} hashed with the forum scheme {HASH_SCHEME} "
                f"(salt id {salt_id(spec.salt)})"
                if subject.hashed
                else f"{subject.type.replace('_', ' ')} shared in clear by counsel's decision"
            ),
            indicator_types=["malicious-activity"],
            pattern=pattern,
            pattern_type="stix",
            valid_from=valid_from,
            **common,
        )
        shared.observables[key], shared.indicators[key] = sco, indicator
        shared.objects += [sco, indicator]
        shared.objects.append(
            stix2.Relationship(
                id="relationship--" + _v4(spec.nonce, f"indicates:{indicator.id}"),
                relationship_type="indicates",
                source_ref=indicator.id,
                target_ref=campaign_id,
                **common,
            )
        )
        shared.records.append(record)
    return shared


def _finding_objects(
    spec: ExportSpec, common: dict[str, Any], shared: _SharedObjects
) -> tuple[list[Any], list[dict[str, Any]], list[int]]:
    """Observed-data per finding with a shared subject, based-on links from its indicators.

    Returns (objects, what the export record keeps of each finding, findings skipped because
    none of their subjects is shared: nothing to hang the summary on).
    """
    objects: list[Any] = []
    shared_findings: list[dict[str, Any]] = []
    skipped: list[int] = []
    for summary in spec.findings:
        keys = [k for k in dict.fromkeys(summary.subjects) if k in shared.observables]
        if not keys:
            skipped.append(summary.finding_id)
            continue
        refs = [shared.observables[k].id for k in keys]
        observed = _observed_data(summary, spec.nonce, refs, common)
        objects.append(observed)
        for key in keys:
            objects.append(
                stix2.Relationship(
                    id="relationship--"
                    + _v4(spec.nonce, f"based-on:{shared.indicators[key].id}:{observed.id}"),
                    relationship_type="based-on",
                    source_ref=shared.indicators[key].id,
                    target_ref=observed.id,
                    **common,
                )
            )
        shared_findings.append(
            {
                "finding_id": summary.finding_id,
                "kind": summary.kind,
                "observed_from": summary.observed_from.isoformat(),
                "observed_to": summary.observed_to.isoformat(),
                "counts": summary.counts,
            }
        )
    return objects, shared_findings, skipped


def _observed_data(
    summary: FindingSummary, nonce: str, object_refs: list[str], common: dict[str, Any]
) -> Any:
    """One finding as observed-data: its window, its request count, kind and counts only."""
    requests = summary.counts.get("requests", 1)
    return stix2.ObservedData(
        id="observed-data--" + _v4(nonce, f"finding:{summary.finding_id}"),
        first_observed=_ms(summary.observed_from),
        last_observed=_ms(summary.observed_to),
        number_observed=min(max(requests, 1), 999_999_999),
        object_refs=object_refs,
        extensions={
            OBSERVATION_EXTENSION: DistillationObservation(
                kind=summary.kind, **({"counts": summary.counts} if summary.counts else {})
            )
        },
        **common,
    )
