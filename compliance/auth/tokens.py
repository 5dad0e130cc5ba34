"""How a secret handed out once is kept: its SHA-256, never the secret itself.

API tokens, TAXII partner tokens, invitation links, session cookies and recovery codes are all
high-entropy random strings, so a plain SHA-256 is enough (no salt or slow hash: nothing to
guess), and a lookup by digest is an index probe. Compare digests with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib


def token_digest(raw: str) -> str:
    """The stored form of a secret: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(raw.encode()).hexdigest()
