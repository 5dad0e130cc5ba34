"""Schemathesis against the API's own OpenAPI document, in-process (WSGI), on each backend.

Every operation of GET /api/v1/openapi.json gets generated requests, valid (positive) and
invalid (negative), with an ingest token and a read token: no answer is a 5xx, answers
conform to the document (status, content type, body schema), and a refused request leaves
no finding, evidence row, subject, case or blob behind.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from compliance.extensions import db
from tests.security.helpers import blob_files, row_counts

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 25}


@pytest.fixture
def tokens(app: Any, operator: Any) -> dict[str, str]:
    from compliance.auth.operations import create_token

    _i, ingest = create_token(operator, "fuzz ingest", ["ingest"])
    _r, read = create_token(operator, "fuzz read", ["read"])
    db.session.commit()
    return {"ingest": ingest, "read": read}


def _fuzz(app: Any, operation: Any, mode: GenerationMode, headers: dict[str, str]) -> int:
    """Run one operation's generated requests; returns how many were sent."""
    sent = 0

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        db.session.commit()
        before = row_counts(), blob_files(app.config["EVIDENCE_DIR"])
        db.session.commit()
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        sent += 1
        if response.status_code >= 400:
            after = row_counts(), blob_files(app.config["EVIDENCE_DIR"])
            assert after == before, (case.method, case.path, response.status_code)
        db.session.commit()

    run()
    return sent


def test_every_operation_survives_generated_requests(app, tokens, make_case):
    make_case()  # something for the read endpoints to find
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("POST", "/api/v1/findings"),
        ("GET", "/api/v1/cases"),
        ("GET", "/api/v1/cases/{ref}"),
        ("GET", "/api/v1/cases/{ref}/evidence"),
        ("GET", "/api/v1/health"),
    }
    calls = 0
    for operation in operations:
        raw = operation.definition.raw
        scope = raw.get("x-required-scope")
        headers = {"Authorization": f"Bearer {tokens[scope]}"} if scope else {}
        calls += _fuzz(app, operation, GenerationMode.POSITIVE, headers)
        if raw.get("parameters") or raw.get("requestBody"):  # else nothing to get wrong
            calls += _fuzz(app, operation, GenerationMode.NEGATIVE, headers)
    assert calls >= 100
