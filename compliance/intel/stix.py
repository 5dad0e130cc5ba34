"""STIX 2.1 for the industry forum: TLP 2.0 markings, the shared-salt hashing scheme, building
our bundles and reading other labs' bundles. Pure functions: no database, no Flask.

Hashing scheme "hmac-sha256/v1" (what other labs must implement to match with us):
    HMAC-SHA256(key = the forum's shared salt as UTF-8,
                message = "<subject type>:<normalised value>" as UTF-8), lowercase hex.
Normalised values are those of the finding schema (`compliance.evidence.schema.
normalise_subject`): account and api_key as given (opaque, case-sensitive), org lowercased
with whitespace collapsed, payment_fingerprint lowercased. The types hashed are account,
api_key, org and payment_fingerprint: raw customer identifiers never leave the building.
IP prefixes and e-mail domains are network indicators and are shared in clear, and only when
counsel selects them.

Hashed identifiers travel as a cyber-observable `distillation-subject`, a new SCO type defined
by our STIX 2.1 extension definition `SUBJECT_EXTENSION` (extension type `new-sco`), with the
properties `subject_type`, `hmac_sha256`, `hash_scheme` and `salt_id` (a fingerprint of the
salt, never the salt, so a receiver can tell that it hashes with a different salt). Their
indicators use the pattern (one line)
    [distillation-subject:subject_type = 'account'
     AND distillation-subject:hmac_sha256 = '<hex>']
IP prefixes use `[ipv4-addr:value ISSUBSET '<cidr>']` (ipv6-addr likewise) and e-mail domains
`[domain-name:value = '<domain>']`. Observed-data objects summarise findings with the property
extension `OBSERVATION_EXTENSION` (`kind` and `counts`: counts only, no prompts, no thresholds,
no detector internals). Both extension definitions travel in every bundle with their JSON
schema, so `stix2.parse(..., allow_custom=False)` and the OASIS validator accept our bundles.

Bundles exported before the extensions (custom type `x-distillation-subject`, custom properties
`x_distillation_kind`/`x_distillation_counts`) are still read.

Markings: a received value is governed by the most restrictive TLP marking that covers it,
whether the marking sits on the whole object (`object_marking_refs`) or on one property
(`granular_markings`). A kept bundle is one evidence file, so its effective TLP is the most
restrictive marking anywhere in it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2 import properties as stix_properties
from stix2.exceptions import STIXError
from stix2patterns.v21.pattern import Pattern

from compliance.errors import InvalidInput
from compliance.evidence.schema import normalise_subject

HASH_SCHEME = "hmac-sha256/v1"
HASHED_TYPES = ("account", "api_key", "org", "payment_fingerprint")
CLEAR_TYPES = ("ip_prefix", "email_domain")
SUBJECT_OBJECT = "distillation-subject"
LEGACY_SUBJECT_OBJECT = "x-distillation-subject"  # bundles exported before the extensions

# Our vocabulary as STIX 2.1 extension definitions. The ids are fixed forever: receivers (and
# every instance of this product) recognise the extensions by them. A change to the schema is
# a new version of the definition, never a new id.
SUBJECT_EXTENSION = "extension-definition--d5f1f8a4-51c4-4b63-9d0e-6a1c2b7c9e21"
OBSERVATION_EXTENSION = "extension-definition--3b8e6f0c-7a2d-4e59-8c41-9f0d5a6b2c13"
EXTENSION_VERSION = "1.0.0"
_EXTENSION_CREATED = datetime(2026, 12, 1, tzinfo=UTC)
SUBJECT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "distillation-subject",
    "description": (
        "A customer identifier used in an unauthorized model-distillation campaign, shared as "
        "its keyed hash: HMAC-SHA256(key = the sharing community's salt, message = "
        "'<subject_type>:<normalised value>'), lowercase hex. The raw value is never shared."
    ),
    "type": "object",
    "required": ["type", "id", "subject_type", "hmac_sha256"],
    "properties": {
        "type": {"const": "distillation-subject"},
        "id": {"type": "string", "pattern": "^distillation-subject--[0-9a-f-]{36}$"},
        "spec_version": {"const": "2.1"},
        "subject_type": {"enum": list(HASHED_TYPES)},
        "hmac_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "hash_scheme": {"const": HASH_SCHEME},
        "salt_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    },
}
OBSERVATION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "distillation-observation",
    "description": (
        "Added to observed-data: what a detector saw in a distillation campaign, as counts "
        "only (no prompts, no detector thresholds or scores)."
    ),
    "type": "object",
    "required": ["extension_type", "kind"],
    "properties": {
        "extension_type": {"const": "property-extension"},
        "kind": {
            "type": "string",
            "description": "the detector family, e.g. query_fingerprint, account_linkage",
        },
        "counts": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0},
            "description": "requests, accounts, api_keys, tokens, prompts, orgs, templates",
        },
    },
}

# TLP 2.0 as published by OASIS (cti-stix-common-objects, extension-definition-specifications/
# tlp-2.0): fixed marking-definition ids and the extension that carries the level.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
# Bundles from labs still on TLP 1.0 (the markings stix2 predefines) are read as their 2.0 level.
TLP1_IDS = {
    stix2.TLP_WHITE.id: "clear",
    stix2.TLP_GREEN.id: "green",
    stix2.TLP_AMBER.id: "amber",
    stix2.TLP_RED.id: "red",
}
KNOWN_TLP_IDS = {**{v: k for k, v in TLP2_IDS.items()}, **TLP1_IDS}

# Object ids are derived from the export's nonce, so a preview and its confirmation produce
# the same bytes (and the hash counsel saw is the hash recorded).
_NAMESPACE = uuid.UUID("8a0e3c2e-4d1f-4b8e-9a55-2f6c1c0d7e11")
_IDENTITY_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
_COUNT_KEYS = ("requests", "accounts", "api_keys", "tokens", "prompts", "orgs", "templates")


_SUBJECT_PROPERTIES = [
    ("subject_type", stix_properties.StringProperty(required=True)),
    ("hmac_sha256", stix_properties.StringProperty(required=True)),
    ("hash_scheme", stix_properties.StringProperty()),
    ("salt_id", stix_properties.StringProperty()),
]


@stix2.CustomObservable(
    SUBJECT_OBJECT,
    _SUBJECT_PROPERTIES,
    id_contrib_props=["subject_type", "hmac_sha256"],
    extension_name=SUBJECT_EXTENSION,
)
class DistillationSubject:
    """A customer identifier as the forum shares it: its type and its HMAC, never the value.

    Importing this module registers the type (and its extension) with the stix2 library, so
    `stix2.parse(bundle, allow_custom=False)` accepts our bundles.
    """


@stix2.v21.CustomExtension(
    OBSERVATION_EXTENSION,
    [
        ("extension_type", stix_properties.StringProperty(fixed="property-extension")),
        ("kind", stix_properties.StringProperty(required=True)),
        ("counts", stix_properties.DictionaryProperty()),
    ],
)
class DistillationObservation:
    """The distillation fields of an observed-data object (a property extension)."""


def extension_definitions(identity_id: str, marking: list[str]) -> list[Any]:
    """Our two extension definitions, created by `identity_id`, with their JSON schemas."""
    common = {
        "created_by_ref": identity_id,
        "created": _EXTENSION_CREATED,
        "modified": _EXTENSION_CREATED,
        "version": EXTENSION_VERSION,
        "object_marking_refs": marking,
    }
    return [
        stix2.ExtensionDefinition(
            id=SUBJECT_EXTENSION,
            name="distillation-subject",
            description=(
                "New cyber-observable type: a customer identifier (account, API key, "
                "organisation, payment fingerprint) used in an unauthorized model-distillation "
                "campaign, shared only as its HMAC-SHA256 with the sharing community's salt."
            ),
            schema=json.dumps(SUBJECT_SCHEMA, sort_keys=True),
            extension_types=["new-sco"],
            **common,
        ),
        stix2.ExtensionDefinition(
            id=OBSERVATION_EXTENSION,
            name="distillation-observation",
            description=(
                "Property extension for observed-data: the kind of distillation detector "
                "that observed the activity and its counts."
            ),
            schema=json.dumps(OBSERVATION_SCHEMA, sort_keys=True),
            extension_types=["property-extension"],
            **common,
        ),
    ]


def tlp_marking(level: str) -> stix2.MarkingDefinition:
    """The official TLP 2.0 marking definition for `level` (clear ... red)."""
    if level not in TLP2_IDS:
        raise InvalidInput(f"unknown TLP level {level!r}: one of {', '.join(TLP_ORDER)}")
    return stix2.MarkingDefinition(
        id=TLP2_IDS[level],
        created="2022-10-01T00:00:00.000Z",
        name=f"TLP:{level.upper()}",
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    )


def parse_tlp(value: str) -> str:
    """'AMBER+STRICT', 'tlp:amber+strict', 'amber_strict', 'white' -> the TLP 2.0 level name."""
    level = (value or "").strip().lower().removeprefix("tlp:").replace("_", "+").replace(" ", "")
    level = {"white": "clear", "amberstrict": "amber+strict"}.get(level, level)
    if level not in TLP2_IDS:
        raise InvalidInput(
            f"unknown TLP level {value!r}: one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED",
            details={"tlp": "unknown level"},
        )
    return level


def salt_id(salt: str) -> str:
    """A fingerprint of the salt (safe to publish) so two labs can tell they use the same one."""
    return hashlib.sha256(b"salt-id:" + salt.encode()).hexdigest()[:16]


def subject_hmac(salt: str, subject_type: str, value: str) -> str:
    """The forum's hash of one identifier (see the module docstring for the scheme)."""
    normalised = normalise_subject(subject_type, value)
    message = f"{subject_type}:{normalised}".encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- building our bundles
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
    now = _ms(spec.prepared_at)
    identity = stix2.Identity(
        id="identity--"
        + str(uuid.UUID(bytes=uuid.uuid5(_NAMESPACE, spec.organisation).bytes, version=4)),
        created=_IDENTITY_CREATED,
        modified=_IDENTITY_CREATED,
        name=spec.organisation,
        identity_class="organization",
        sectors=["technology"],
        object_marking_refs=marking,
    )
    common = {
        "created": now,
        "modified": now,
        "created_by_ref": identity.id,
        "object_marking_refs": marking,
    }
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
    campaign = stix2.Campaign(**campaign_fields)

    objects: list[Any] = [tlp, identity, *extension_definitions(identity.id, marking), campaign]
    observables: dict[tuple[str, str], Any] = {}
    indicators: dict[tuple[str, str], Any] = {}
    shared_subjects: list[dict[str, str]] = []
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
        observables[key], indicators[key] = sco, indicator
        objects += [sco, indicator]
        objects.append(
            stix2.Relationship(
                id="relationship--" + _v4(spec.nonce, f"indicates:{indicator.id}"),
                relationship_type="indicates",
                source_ref=indicator.id,
                target_ref=campaign.id,
                **common,
            )
        )
        shared_subjects.append(record)

    shared_findings: list[dict[str, Any]] = []
    skipped: list[int] = []
    for summary in spec.findings:
        keys = [k for k in dict.fromkeys(summary.subjects) if k in observables]
        if not keys:
            skipped.append(summary.finding_id)  # nothing shared to hang the summary on
            continue
        requests = summary.counts.get("requests", 1)
        observed = stix2.ObservedData(
            id="observed-data--" + _v4(spec.nonce, f"finding:{summary.finding_id}"),
            first_observed=_ms(summary.observed_from),
            last_observed=_ms(summary.observed_to),
            number_observed=min(max(requests, 1), 999_999_999),
            object_refs=[observables[k].id for k in keys],
            extensions={
                OBSERVATION_EXTENSION: DistillationObservation(
                    kind=summary.kind, **({"counts": summary.counts} if summary.counts else {})
                )
            },
            **common,
        )
        objects.append(observed)
        for key in keys:
            objects.append(
                stix2.Relationship(
                    id="relationship--"
                    + _v4(spec.nonce, f"based-on:{indicators[key].id}:{observed.id}"),
                    relationship_type="based-on",
                    source_ref=indicators[key].id,
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

    bundle = stix2.Bundle(id="bundle--" + _v4(spec.nonce, "bundle"), objects=objects)
    data = bundle.serialize(pretty=True).encode("utf-8")
    return BuiltBundle(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        bundle_id=bundle.id,
        objects=json.loads(data)["objects"],
        shared_subjects=shared_subjects,
        shared_findings=shared_findings,
        skipped_findings=skipped,
    )


# ---------------------------------------------------------------- reading other labs' bundles
@dataclass(frozen=True)
class ReceivedIndicator:
    stix_id: str
    name: str
    match_kind: str  # hmac, ip_prefix, domain
    subject_type: str
    value: str
    valid_from: datetime | None
    valid_until: datetime | None


@dataclass
class ReceivedBundle:
    bundle_id: str
    tlp: str
    tlp_assumed: bool
    object_count: int
    indicator_count: int
    indicators: list[ReceivedIndicator]
    # The period of conduct the sender reports (campaigns' first_seen/last_seen, observed-data
    # windows) and the earliest indicator valid_from: facts about the conduct, not our receipt.
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    valid_from: datetime | None = None


def _refuse(message: str, field_name: str = "bundle") -> InvalidInput:
    return InvalidInput(message, details={field_name: message})


def _strictest(levels: set[str]) -> str:
    return max(levels, key=TLP_ORDER.index)


def strictest(levels: list[str] | set[str]) -> str | None:
    """The most restrictive of these TLP levels (None for none)."""
    return _strictest(set(levels)) if levels else None


def declared_tlp_ids(raw_objects: list[dict[str, Any]]) -> dict[str, str]:
    """Marking-definition id -> TLP level: the standard ones, plus those the bundle declares."""
    declared = dict(KNOWN_TLP_IDS)
    for obj in raw_objects:
        if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
            continue
        extensions = obj.get("extensions") if isinstance(obj.get("extensions"), dict) else {}
        tlp2 = extensions.get(TLP2_EXTENSION) if isinstance(extensions, dict) else None
        level = tlp2.get("tlp_2_0") if isinstance(tlp2, dict) else None
        if isinstance(level, str) and level.lower() in TLP2_IDS:
            declared[str(obj.get("id"))] = level.lower()
        definition = obj.get("definition") if isinstance(obj.get("definition"), dict) else {}
        tlp1 = definition.get("tlp") if obj.get("definition_type") else None
        if isinstance(tlp1, str) and tlp1.lower() in ("white", "green", "amber", "red"):
            declared[str(obj.get("id"))] = {"white": "clear"}.get(tlp1.lower(), tlp1.lower())
    return declared


def marking_refs(obj: dict[str, Any]) -> list[str]:
    """Every marking an object carries: on the whole object and on any of its properties."""
    refs = [r for r in obj.get("object_marking_refs") or [] if isinstance(r, str)]
    for granular in obj.get("granular_markings") or []:
        if isinstance(granular, dict) and isinstance(granular.get("marking_ref"), str):
            refs.append(granular["marking_ref"])
    return refs


def object_tlp(obj: dict[str, Any], declared: dict[str, str]) -> str | None:
    """The most restrictive TLP covering any value of `obj` (object or granular), or None."""
    return strictest({declared[r] for r in marking_refs(obj) if r in declared})


def _bundle_tlp(raw_objects: list[dict[str, Any]], unmarked_policy: str) -> tuple[str, bool]:
    """The strictest TLP any object or property carries; with none, the configured policy."""
    declared = declared_tlp_ids(raw_objects)
    # Marking definitions count too: a RED marking marked RED is still RED (the strictest wins).
    levels = {level for obj in raw_objects if (level := object_tlp(obj, declared)) is not None}
    if levels:
        return _strictest(levels), False
    if unmarked_policy == "amber+strict":
        return "amber+strict", True
    raise _refuse(
        "the bundle carries no TLP marking: ask the sender to mark it (TLP 2.0), "
        "or configure INTEL_UNMARKED_POLICY = 'amber+strict' to accept it as AMBER+STRICT",
        "tlp",
    )


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return text


def _matchables(indicator: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(match kind, subject type, value) for each comparison we know how to match."""
    try:
        comparisons = Pattern(indicator["pattern"]).inspect().comparisons
    except Exception as error:  # the pattern library raises plain exceptions on bad syntax
        raise _refuse(f"indicator {indicator.get('id')} has an invalid pattern: {error}") from None
    found: list[tuple[str, str, str]] = []
    for object_type, items in comparisons.items():
        values = {
            path[0]: _unquote(value)
            for path, op, value in items
            if len(path) == 1 and op in ("=", "ISSUBSET")
        }
        if object_type in (SUBJECT_OBJECT, LEGACY_SUBJECT_OBJECT) and "hmac_sha256" in values:
            digest = values["hmac_sha256"].lower()
            if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
                found.append(("hmac", values.get("subject_type", ""), digest))
        elif object_type in ("ipv4-addr", "ipv6-addr") and "value" in values:
            try:
                network = ipaddress.ip_network(values["value"], strict=False)
            except ValueError:
                continue
            found.append(("ip_prefix", "ip_prefix", str(network)))
        elif object_type == "domain-name" and "value" in values:
            try:
                domain = normalise_subject("email_domain", values["value"])
            except ValueError:
                continue
            found.append(("domain", "email_domain", domain))
    return found


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _period(objects: list[dict[str, Any]]) -> tuple[datetime | None, datetime | None]:
    """(first_seen, last_seen) the sender reports: campaigns, intrusion sets, observed-data."""
    starts, ends = [], []
    for obj in objects:
        for key, bucket in (
            ("first_seen", starts),
            ("first_observed", starts),
            ("last_seen", ends),
            ("last_observed", ends),
        ):
            try:
                value = _time(obj.get(key))
            except ValueError:
                value = None
            if value is not None:
                bucket.append(value)
    return (min(starts) if starts else None, max(ends) if ends else None)


def read_bundle(data: bytes, *, max_bytes: int, unmarked_policy: str) -> ReceivedBundle:
    """Validate a received bundle (size, JSON, STIX 2.1, TLP) and extract its indicators.

    Raises InvalidInput with a message a person can act on; nothing is stored by this function.
    """
    if len(data) > max_bytes:
        raise _refuse(
            f"the bundle is {len(data):,} bytes, more than the {max_bytes:,} allowed "
            "(INTEL_MAX_BUNDLE_BYTES)",
            "file",
        )
    if not data.strip():
        raise _refuse("the file is empty", "file")
    try:
        raw = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise _refuse("not JSON this service reads: nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _refuse(f"not JSON: {error}") from None
    if not isinstance(raw, dict) or raw.get("type") != "bundle":
        raise _refuse('not a STIX bundle (expected an object with "type": "bundle")')
    if "spec_version" in raw:  # STIX 2.0 put the version on the bundle
        raise _refuse(
            f"STIX spec_version {raw['spec_version']!r} is not supported: send STIX 2.1",
            "spec_version",
        )
    objects = raw.get("objects")
    if not isinstance(objects, list) or not objects:
        raise _refuse("the bundle has no objects")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise _refuse(f"object {index} is not a JSON object")
        version = obj.get("spec_version")
        if version is not None and version != "2.1":
            raise _refuse(
                f"object {index} ({obj.get('type')}) has spec_version {version!r}: "
                "only STIX 2.1 is supported",
                "spec_version",
            )
    try:
        stix2.parse(raw, allow_custom=True, version="2.1")
    except RecursionError:
        raise _refuse("not valid STIX 2.1: nested too deeply") from None
    except (STIXError, ValueError, TypeError, KeyError) as error:
        raise _refuse(f"not valid STIX 2.1: {error}") from None
    tlp, assumed = _bundle_tlp(objects, unmarked_policy)
    indicators: list[ReceivedIndicator] = []
    stix_indicators = [o for o in objects if o.get("type") == "indicator"]
    for obj in stix_indicators:
        if obj.get("pattern_type") != "stix":
            continue
        for match_kind, subject_type, value in _matchables(obj):
            indicators.append(
                ReceivedIndicator(
                    stix_id=obj["id"],
                    name=str(obj.get("name") or "")[:300],
                    match_kind=match_kind,
                    subject_type=subject_type[:30],
                    value=value[:500],
                    valid_from=_time(obj.get("valid_from")),
                    valid_until=_time(obj.get("valid_until")),
                )
            )
    first_seen, last_seen = _period(objects)
    starts = []
    for obj in stix_indicators:
        try:
            start = _time(obj.get("valid_from"))
        except ValueError:
            start = None
        if start is not None:
            starts.append(start)
    return ReceivedBundle(
        bundle_id=str(raw.get("id", ""))[:100],
        tlp=tlp,
        tlp_assumed=assumed,
        object_count=len(objects),
        indicator_count=len(stix_indicators),
        indicators=indicators,
        first_seen=first_seen,
        last_seen=last_seen,
        valid_from=min(starts) if starts else None,
    )
