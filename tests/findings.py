"""A valid detector finding (schema distillation-finding/v1), for tests of every capability."""

from __future__ import annotations

import base64
import copy
import itertools
import os
from typing import Any

_ids = itertools.count(1)


def make_finding(**overrides: Any) -> dict[str, Any]:
    """A valid distillation-finding/v1 body; keyword arguments replace top-level fields."""
    body: dict[str, Any] = {
        "schema": "distillation-finding/v1",
        "detector": {"name": "query-fingerprint", "version": "2.3.1"},
        "external_id": f"test-{os.getpid()}-{next(_ids):06d}",
        "kind": "query_fingerprint",
        "observed_from": "2026-10-01T00:00:00Z",
        "observed_to": "2026-10-18T23:59:59Z",
        "confidence": 0.93,
        "severity": "high",
        "subjects": [
            {"type": "account", "id": "acct_81f2c0"},
            {"type": "ip_prefix", "id": "203.0.113.0/24"},
        ],
        "metrics": {"requests": 1840023, "accounts": 212, "template_similarity": 0.97},
        "summary": "212 accounts sent 1.84M prompts from 14 templates.",
        "sample_prompts": ["Explain step by step how to solve ..."],
        "attachments": [
            {
                "name": "clusters.csv",
                "media_type": "text/csv",
                "content_base64": base64.b64encode(b"cluster,accounts\nc1,212\n").decode(),
            }
        ],
    }
    body.update(copy.deepcopy(overrides))
    return body
