"""Receiving a partner's bundle: shape limits, validation, keeping it once (by SHA-256),
auditing, then matching it against our subjects; and the list of imports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import InvalidInput
from compliance.evidence.schema import nesting_depth
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.intel import stix
from compliance.intel.models import (
    IntelImport,
    IntelIndicator,
    IntelMatch,
)
from compliance.intel.operations.forum import shared_salt
from compliance.intel.operations.matching import match_imports


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
    source = _checked_source(source)
    received = _read(data)
    salt = shared_salt()
    sha256 = hashlib.sha256(data).hexdigest()
    existing = db.session.scalar(select(IntelImport).where(IntelImport.sha256 == sha256))
    if existing is not None:
        return ImportOutcome(existing, duplicate=True)
    intel_import = _keep(
        data, received, actor, sha256=sha256, source=source, filename=filename, feed_id=feed_id
    )
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


def _checked_source(source: str) -> str:
    """The sending lab's name, required and at most 300 characters."""
    source = (source or "").strip()
    if not source:
        raise InvalidInput(
            "say which lab sent the bundle", details={"source": "required (the sending lab)"}
        )
    if len(source) > 300:
        raise InvalidInput("the source is too long", details={"source": "at most 300 characters"})
    return source


def _read(data: bytes) -> stix.ReceivedBundle:
    """The bundle validated within the configured limits (shape first, then STIX and TLP)."""
    config = current_app.config
    check_bundle_shape(data, config["INTEL_MAX_BUNDLE_OBJECTS"], config["INTEL_MAX_BUNDLE_DEPTH"])
    return stix.read_bundle(
        data,
        max_bytes=config["INTEL_MAX_BUNDLE_BYTES"],
        unmarked_policy=config["INTEL_UNMARKED_POLICY"],
    )


def _keep(
    data: bytes,
    received: stix.ReceivedBundle,
    actor: Actor,
    *,
    sha256: str,
    source: str,
    filename: str,
    feed_id: int | None,
) -> IntelImport:
    """Store the bundle's bytes and its import row with the indicators we can match (flushed)."""
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
    return intel_import


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
