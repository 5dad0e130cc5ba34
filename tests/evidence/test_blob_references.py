"""Files other capabilities keep in the evidence store are verified and never cleaned away."""

from __future__ import annotations

from compliance.evidence.operations import find_orphans, verify_evidence
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.intel.models import IntelImport


def test_intel_bundles_are_not_orphans_and_are_verified(app, operator):
    store = blob_store()
    sha, _ = store.put(b'{"type": "bundle", "id": "bundle--1", "objects": []}')
    db.session.add(
        IntelImport(
            source="Partner lab",
            tlp="green",
            bundle_id="bundle--1",
            sha256=sha,
            size_bytes=52,
            imported_by="cli:test",
            imported_by_name="Test",
        )
    )
    db.session.commit()
    assert sha not in find_orphans(grace_seconds=0)
    report = verify_evidence(operator)
    assert report.ok and report.checked >= 1
    store.path(sha).chmod(0o644)
    store.path(sha).write_bytes(b"tampered")
    report = verify_evidence(operator)
    assert not report.ok and (sha, "altered") in report.problems
