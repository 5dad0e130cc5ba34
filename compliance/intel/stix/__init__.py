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

Modules:
- `vocabulary`: our extension definitions (the `distillation-subject` SCO, the observation
  extension) and the hashing scheme
- `markings`: TLP 2.0 marking definitions, parsing a level, the TLP governing received objects
- `building`: our bundle for one case (`build_bundle`), byte-identical for the same spec
- `reading`: validating another lab's bundle and extracting its indicators (`read_bundle`)

Every name other modules use is importable from `compliance.intel.stix`.
"""

from compliance.intel.stix.building import (
    BuiltBundle,
    ExportSpec,
    FindingSummary,
    SharedSubject,
    build_bundle,
    counts_of,
)
from compliance.intel.stix.markings import (
    KNOWN_TLP_IDS,
    TLP1_IDS,
    TLP2_EXTENSION,
    TLP2_IDS,
    TLP_ORDER,
    bundle_tlp,
    declared_tlp_ids,
    marking_refs,
    object_tlp,
    parse_tlp,
    strictest,
    tlp_marking,
)
from compliance.intel.stix.reading import ReceivedBundle, ReceivedIndicator, read_bundle
from compliance.intel.stix.vocabulary import (
    CLEAR_TYPES,
    EXTENSION_VERSION,
    HASH_SCHEME,
    HASHED_TYPES,
    LEGACY_SUBJECT_OBJECT,
    OBSERVATION_EXTENSION,
    OBSERVATION_SCHEMA,
    SUBJECT_EXTENSION,
    SUBJECT_OBJECT,
    SUBJECT_SCHEMA,
    DistillationObservation,
    DistillationSubject,
    extension_definitions,
    salt_id,
    subject_hmac,
)

__all__ = [
    "CLEAR_TYPES",
    "EXTENSION_VERSION",
    "HASHED_TYPES",
    "HASH_SCHEME",
    "KNOWN_TLP_IDS",
    "LEGACY_SUBJECT_OBJECT",
    "OBSERVATION_EXTENSION",
    "OBSERVATION_SCHEMA",
    "SUBJECT_EXTENSION",
    "SUBJECT_OBJECT",
    "SUBJECT_SCHEMA",
    "TLP1_IDS",
    "TLP2_EXTENSION",
    "TLP2_IDS",
    "TLP_ORDER",
    "BuiltBundle",
    "DistillationObservation",
    "DistillationSubject",
    "ExportSpec",
    "FindingSummary",
    "ReceivedBundle",
    "ReceivedIndicator",
    "SharedSubject",
    "build_bundle",
    "bundle_tlp",
    "counts_of",
    "declared_tlp_ids",
    "extension_definitions",
    "marking_refs",
    "object_tlp",
    "parse_tlp",
    "read_bundle",
    "salt_id",
    "strictest",
    "subject_hmac",
    "tlp_marking",
]
