"""Our STIX 2.1 vocabulary: the `distillation-subject` cyber-observable and the observation
property extension (both as extension definitions with their JSON schemas), and the forum's
shared-salt hashing scheme (see the package docstring for what other labs implement).

Importing this module registers the type and the extension with the stix2 library.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2 import properties as stix_properties

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


def salt_id(salt: str) -> str:
    """A fingerprint of the salt (safe to publish) so two labs can tell they use the same one."""
    return hashlib.sha256(b"salt-id:" + salt.encode()).hexdigest()[:16]


def subject_hmac(salt: str, subject_type: str, value: str) -> str:
    """The forum's hash of one identifier (see the module docstring for the scheme)."""
    normalised = normalise_subject(subject_type, value)
    message = f"{subject_type}:{normalised}".encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()
