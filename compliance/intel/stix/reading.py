"""Reading another lab's bundle: validation (size, JSON, STIX 2.1), its effective TLP, the
indicators we can match and the period of conduct it reports. Nothing is stored here.

Bundles exported before our extensions (custom type `x-distillation-subject`) are still read.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2.exceptions import STIXError
from stix2patterns.v21.pattern import Pattern

from compliance.errors import InvalidInput
from compliance.evidence.schema import normalise_subject
from compliance.intel.stix.markings import bundle_tlp
from compliance.intel.stix.vocabulary import LEGACY_SUBJECT_OBJECT, SUBJECT_OBJECT


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
    raw = _load_json(data, max_bytes)
    objects = _stix21_objects(raw)
    tlp, assumed = bundle_tlp(objects, unmarked_policy)
    stix_indicators = [o for o in objects if o.get("type") == "indicator"]
    first_seen, last_seen = _period(objects)
    return ReceivedBundle(
        bundle_id=str(raw.get("id", ""))[:100],
        tlp=tlp,
        tlp_assumed=assumed,
        object_count=len(objects),
        indicator_count=len(stix_indicators),
        indicators=_received_indicators(stix_indicators),
        first_seen=first_seen,
        last_seen=last_seen,
        valid_from=_earliest_valid_from(stix_indicators),
    )


def _load_json(data: bytes, max_bytes: int) -> Any:
    """The bundle's JSON, refused when too large, empty or not JSON."""
    if len(data) > max_bytes:
        raise _refuse(
            f"the bundle is {len(data):,} bytes, more than the {max_bytes:,} allowed "
            "(INTEL_MAX_BUNDLE_BYTES)",
            "file",
        )
    if not data.strip():
        raise _refuse("the file is empty", "file")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise _refuse("not JSON this service reads: nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _refuse(f"not JSON: {error}") from None


def _stix21_objects(raw: Any) -> list[dict[str, Any]]:
    """The objects of a STIX 2.1 bundle; refuses anything else (STIX 2.0 included)."""
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
    return objects


def _received_indicators(stix_indicators: list[dict[str, Any]]) -> list[ReceivedIndicator]:
    """One row per comparison we can match, from the indicators written in STIX patterns."""
    indicators: list[ReceivedIndicator] = []
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
    return indicators


def _earliest_valid_from(stix_indicators: list[dict[str, Any]]) -> datetime | None:
    """The earliest indicator valid_from (an unreadable one is skipped, not refused)."""
    starts = []
    for obj in stix_indicators:
        try:
            start = _time(obj.get("valid_from"))
        except ValueError:
            start = None
        if start is not None:
            starts.append(start)
    return min(starts) if starts else None
