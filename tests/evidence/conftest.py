"""Builders for detector findings and ingest tokens, shared by the evidence tests."""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from compliance.extensions import db

_ids = itertools.count(1)


@pytest.fixture
def finding() -> Callable[..., dict[str, Any]]:
    """Factory: a valid finding (schema v1); keyword arguments replace top-level fields."""

    def build(**overrides: Any) -> dict[str, Any]:
        body = {
            "schema": "distillation-finding/v1",
            "detector": {"name": "query-fingerprint", "version": "2.3.1"},
            "external_id": f"qf-20261018-{next(_ids):04d}",
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

    return build


@pytest.fixture
def ingest_token(app: Any, operator: Any) -> str:
    """A live token with the ingest scope (and read, to look at the result)."""
    from compliance.auth.operations import create_token

    _token, raw = create_token(operator, "query-fingerprint detector", ["ingest", "read"])
    db.session.commit()
    return raw


@pytest.fixture
def post_findings(client: Any, ingest_token: str) -> Callable[..., Any]:
    """post_findings(body) -> response of POST /api/v1/findings with the ingest token."""

    def post(body: Any, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or ingest_token}"}
        if "data" in kwargs:
            return client.post("/api/v1/findings", headers=headers, **kwargs)
        return client.post("/api/v1/findings", headers=headers, json=body)

    return post


def count_rows() -> dict[str, int]:
    """Rows in every evidence table and cases (the all-or-nothing tests compare these)."""
    from compliance.cases.models import Case
    from compliance.evidence.models import (
        CaseSubject,
        CustodyEvent,
        DuplicateFlag,
        EvidenceItem,
        Finding,
        Subject,
    )

    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (
            Case,
            Finding,
            EvidenceItem,
            CustodyEvent,
            Subject,
            CaseSubject,
            DuplicateFlag,
        )
    }


def count_blobs(app: Any) -> int:
    root = Path(app.config["EVIDENCE_DIR"])
    return sum(1 for p in root.rglob("*") if p.is_file())


@pytest.fixture
def snapshot(app: Any) -> Callable[[], tuple[dict[str, int], int]]:
    return lambda: (count_rows(), count_blobs(app))
