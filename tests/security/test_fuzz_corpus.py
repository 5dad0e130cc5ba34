"""Nasty request bodies (tests/security/corpus/*.json): each is refused with a 4xx, nothing kept.

Every file is posted as it is, bytes unchanged, with an ingest token. The answer must be a
JSON error with a 4xx status, and no finding, evidence row, subject, case or blob may appear;
the audit trail gains at most the one event that records the rejection.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compliance import create_app
from compliance.actor import Actor
from compliance.extensions import db
from tests.conftest import CommittingClient, _counter, _pg_execute, app_settings, pg_url_for
from tests.security.helpers import audit_actions, blob_files, row_counts

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.json"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def corpus_app(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[Any]:
    """One app and database per backend for the whole corpus (nothing is meant to be stored,
    and each test compares before with after, so sharing it keeps the run short)."""
    root = tmp_path_factory.mktemp(f"corpus-{request.param}")
    name = None
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), root / "corpus.db")
        url = f"sqlite:///{root / 'corpus.db'}"
    else:
        name = f"cmp_corpus_{os.getpid()}_{next(_counter)}"
        _pg_execute(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('pg_template')}")
        url = pg_url_for(name)
    app = create_app(app_settings(url, root))
    app.test_client_class = CommittingClient
    with app.app_context():
        from compliance.auth.operations import create_token

        _token, raw = create_token(Actor.cli_operator(), "corpus detector", ["ingest"])
        db.session.commit()
        app.config["CORPUS_TOKEN"] = raw
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()
    if name:
        _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_corpus_is_there():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_nasty_body_is_refused_and_nothing_is_stored(path, corpus_app):
    with corpus_app.app_context():
        _post_and_check(
            path, corpus_app, corpus_app.test_client(), corpus_app.config["CORPUS_TOKEN"]
        )


def _post_and_check(path: Path, app: Any, client: Any, ingest_token: str) -> None:
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
