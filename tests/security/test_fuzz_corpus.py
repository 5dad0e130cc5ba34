"""Nasty request bodies (tests/security/corpus/*.json): each is refused with a 4xx, nothing kept.

Every file is posted as it is, bytes unchanged, with an ingest token. The answer must be a
JSON error with a 4xx status, and no finding, evidence row, subject, case or blob may appear;
the audit trail gains at most the one event that records the rejection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.security.helpers import audit_actions, blob_files, row_counts

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.json"))


@pytest.fixture
def ingest_token(app: Any, operator: Any) -> str:
    from compliance.auth.operations import create_token
    from compliance.extensions import db

    _token, raw = create_token(operator, "corpus detector", ["ingest"])
    db.session.commit()
    return raw


def test_the_corpus_is_there():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_nasty_body_is_refused_and_nothing_is_stored(path, app, client, ingest_token):
    before_rows, before_blobs = row_counts(), blob_files(app.config["EVIDENCE_DIR"])
    before_audit = audit_actions()
    response = client.post(
        "/api/v1/findings",
        data=path.read_bytes(),
        headers={"Authorization": f"Bearer {ingest_token}", "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data()[:500])
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    assert row_counts() == before_rows
    assert blob_files(app.config["EVIDENCE_DIR"]) == before_blobs
    added = audit_actions()[len(before_audit) :]
    assert added in ([], ["finding.batch_rejected"]), added
    if response.status_code == 422:  # field-level errors point at the offending field
        details = error["details"]
        assert details and all({"index", "field", "message"} <= set(d) for d in details)
