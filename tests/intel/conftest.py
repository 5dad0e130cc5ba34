"""Builders for intel tests: findings with every subject type, and a second lab's database."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from compliance.extensions import db

_ids = itertools.count(1)

# One campaign's subjects as our detectors see them. The raw values must never leave.
ACCOUNT = "acct_81f2c0"
API_KEY = "sk-live-9f8e7d6c5b4a"
PAYMENT = "pf_4242aa99cc"
ORG = "Lattice Systems Ltd"
PREFIX = "203.0.113.0/24"
DOMAIN = "lattice-research.example"
RAW_IDENTIFIERS = (ACCOUNT, API_KEY, PAYMENT, "lattice systems ltd", ORG)


def finding_body(subjects: list[tuple[str, str]], **overrides: Any) -> dict[str, Any]:
    """A valid detector finding (schema v1) about these subjects."""
    body = {
        "schema": "distillation-finding/v1",
        "detector": {"name": "query-fingerprint", "version": "2.3.1"},
        "external_id": f"qf-intel-{next(_ids):05d}",
        "kind": "query_fingerprint",
        "observed_from": "2026-10-01T00:00:00Z",
        "observed_to": "2026-10-18T23:59:59Z",
        "confidence": 0.93,
        "severity": "high",
        "subjects": [{"type": t, "id": v} for t, v in subjects],
        "metrics": {"requests": 1840023, "accounts": 212, "template_similarity": 0.97},
        "summary": f"212 accounts sent 1.84M prompts from 14 templates ({ACCOUNT} leads).",
        "sample_prompts": ["Explain step by step how to solve ..."],
    }
    body.update(overrides)
    return body


@pytest.fixture
def ingest(app: Any) -> Callable[..., Any]:
    """ingest(subjects, **fields) -> the case the finding landed in (committed)."""
    from compliance.actor import Actor
    from compliance.cases.operations import get_case
    from compliance.evidence.operations import ingest_findings

    def run(subjects: list[tuple[str, str]], **overrides: Any) -> Any:
        outcome = ingest_findings(
            finding_body(subjects, **overrides), Actor.cli_operator(), channel="cli"
        )[0]
        db.session.commit()
        return get_case(outcome.case_ref)

    return run


@pytest.fixture
def campaign_case(ingest: Callable[..., Any]) -> Any:
    """A case whose subjects cover every type, from two findings."""
    case = ingest([("account", ACCOUNT), ("api_key", API_KEY), ("ip_prefix", PREFIX)])
    ingest(
        [
            ("account", ACCOUNT),
            ("payment_fingerprint", PAYMENT),
            ("org", ORG),
            ("email_domain", DOMAIN),
        ],
        kind="account_linkage",
        detector={"name": "account-linkage", "version": "1.4.0"},
        metrics={"accounts": 12, "linkage_threshold": 0.8},
    )
    return case


@pytest.fixture
def second_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """Another lab's database: a second fresh, migrated database on the same backend."""
    from tests import conftest as base

    if backend == "sqlite":
        target = tmp_path / "other-lab.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cmp_lab_{os.getpid()}_{next(base._counter)}"
    base._pg_execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield base.pg_url_for(name)
    base._pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def other_lab(
    app_config: dict[str, Any], second_database_url: str, tmp_path: Path
) -> Iterator[Any]:
    """A second, independent instance (its own database and evidence store), same forum salt."""
    from compliance import create_app

    other = create_app(
        {
            **app_config,
            "DATABASE_URL": second_database_url,
            "INSTANCE_PATH": str(tmp_path / "other-instance"),
            "EVIDENCE_DIR": str(tmp_path / "other-evidence"),
            "CHECKPOINT_DIR": str(tmp_path / "other-checkpoints"),
            "INTEL_ORGANISATION": "Corvid Labs",
        }
    )
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
