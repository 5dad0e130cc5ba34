"""The forum's shared salt and the bundles we keep (ours sent, partners' received): what
exporting, importing and matching all use.
"""

from __future__ import annotations

from flask import current_app

from compliance.errors import Conflict
from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

DEMO_SALT = "distillation-forum-DEMO-salt-replace-me"


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


def stored_bundle(sha256: str) -> bytes:
    """A stored bundle's bytes, checked against their hash."""
    try:
        return checked_bytes(blob_store(), sha256)
    except BlobDamaged as damage:
        raise Conflict(f"the bundle is {damage.status} in the store (sha256={sha256})") from None
