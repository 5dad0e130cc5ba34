"""The instance's audit key: the Ed25519 key that signs checkpoints of the trail.

Generated on first use under the instance folder (or COMPLIANCE_AUDIT_KEY_PATH, which every
host of a cluster must share) and readable by its owner only. Text fingerprints derive their
secret from it too (`chain.fingerprint_key`), so it lives beside the writer, below every domain.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

from compliance.errors import InvalidInput


def key_path() -> Path:
    configured = current_app.config.get("AUDIT_KEY_PATH")
    return Path(configured) if configured else Path(current_app.instance_path) / "audit_key.pem"


def instance_key() -> Ed25519PrivateKey:
    """The instance's signing key, generated on first use and readable by its owner only."""
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # O_EXCL: two processes racing to create the key never overwrite each other's.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} is not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()
