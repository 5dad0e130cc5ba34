"""Ingest throughput through the API, as a ratio to a raw SQLAlchemy Core insert of the same rows.

Both sides run in the same process, on fresh databases migrated the same way. The API side is
the whole path (HTTP handling in the Flask test client, token check, JSON parsing, schema
validation, SHA-256, write-once blobs, subject correlation, custody and audit events); the
reference inserts the finding, evidence-item and custody rows the API writes.

Rows: SQLite with the filesystem evidence store (the target), then, when a PostgreSQL server
is configured (BENCH_POSTGRES_URL, else COMPLIANCE_TEST_POSTGRES_URL: an existing database the
bench connects to in order to create its own), PostgreSQL with each evidence store, the
filesystem one (fsync per pack) and the PostgreSQL one (`evidence_blobs` rows), both against
the same Core reference on PostgreSQL: how much the store backend costs, side by side.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BATCH = 500
TARGET_RATIO = 0.25


def _findings(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        campaign = rng.randrange(40)
        begin = start + timedelta(hours=rng.randrange(600))
        out.append(
            {
                "schema": "distillation-finding/v1",
                "detector": {"name": "query-fingerprint", "version": "2.3.1"},
                "external_id": f"bench-{seed}-{i:07d}",
                "kind": "query_fingerprint",
                "observed_from": begin.isoformat().replace("+00:00", "Z"),
                "observed_to": (begin + timedelta(hours=6)).isoformat().replace("+00:00", "Z"),
                "confidence": round(rng.uniform(0.5, 1.0), 3),
                "severity": rng.choice(["medium", "high"]),
                "subjects": [
                    {"type": "account", "id": f"acct_{campaign:03d}_{rng.randrange(50):02d}"},
                    {"type": "ip_prefix", "id": f"10.{campaign}.0.0/16"},
                    {"type": "payment_fingerprint", "id": f"pf_bench_{campaign:03d}"},
                ],
                "metrics": {"requests": rng.randrange(10_000, 2_000_000), "accounts": 12},
                "summary": f"Templated prompts from campaign {campaign}.",
                "sample_prompts": ["Explain step by step ..."],
            }
        )
    return out


def _api_rate(
    url: str, workdir: Path, findings: list[dict[str, Any]], store: str = "filesystem"
) -> float:
    from compliance import create_app
    from compliance.actor import Actor
    from compliance.auth.operations import create_token
    from compliance.extensions import db

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(workdir / "instance"),
            "EVIDENCE_DIR": str(workdir / f"evidence-{store}"),
            "EVIDENCE_STORE": store,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        _token, raw = create_token(Actor.cli_operator(), "bench detector", ["ingest"])
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    bodies = [json.dumps(findings[i : i + BATCH]).encode() for i in range(0, len(findings), BATCH)]
    began = time.perf_counter()
    for body in bodies:
        response = client.post(
            "/api/v1/findings", data=body, headers=headers, content_type="application/json"
        )
        if response.status_code != 201:
            raise RuntimeError(f"ingest failed: {response.status_code} {response.get_data()[:300]}")
    elapsed = time.perf_counter() - began
    with app.app_context():
        db.engine.dispose()
    return len(findings) / elapsed


def _core_rate(url: str, findings: list[dict[str, Any]]) -> float:
    from sqlalchemy import create_engine, insert

    from compliance.cases.models import Case
    from compliance.db import configure_engine, utcnow
    from compliance.evidence.models import CustodyEvent, EvidenceItem, Finding

    engine = create_engine(url)
    configure_engine(engine)
    now = utcnow()
    with engine.begin() as conn:
        case_id = conn.execute(
            insert(Case).values(
                ref="BENCH-1",
                title="bench",
                summary="",
                state="reported",
                severity="high",
                targeted_domains=[],
                chosen_actions=[],
                legal_hold=False,
                created_by="bench",
                created_at=now,
                updated_at=now,
                version=1,
            )
        ).inserted_primary_key[0]
    began = time.perf_counter()
    next_item = 1
    for start in range(0, len(findings), BATCH):
        batch = findings[start : start + BATCH]
        with engine.begin() as conn:
            ids = (
                conn.execute(
                    insert(Finding).returning(Finding.id),
                    [
                        {
                            "detector_name": f["detector"]["name"],
                            "detector_version": f["detector"]["version"],
                            "external_id": f["external_id"],
                            "kind": f["kind"],
                            "severity": f["severity"],
                            "confidence": f["confidence"],
                            "observed_from": datetime.fromisoformat(f["observed_from"]),
                            "observed_to": datetime.fromisoformat(f["observed_to"]),
                            "summary": f["summary"],
                            "metrics": f["metrics"],
                            "subjects": f["subjects"],
                            "sample_prompt_count": 1,
                            "content_sha256": "0" * 64,
                            "case_id": case_id,
                            "ingested_by": "bench",
                            "ingested_at": now,
                        }
                        for f in batch
                    ],
                )
                .scalars()
                .all()
            )
            items = []
            for finding_id, f in zip(ids, batch, strict=True):
                items.append(
                    {
                        "id": next_item,
                        "case_id": case_id,
                        "finding_id": finding_id,
                        "role": "finding_record",
                        "name": f"{f['external_id']}.json",
                        "description": f"query fingerprint finding {f['external_id']} as received",
                        "media_type": "application/json",
                        "sha256": hashlib.sha256(f["external_id"].encode()).hexdigest(),
                        "size_bytes": 1000,
                        "source": "bench",
                        "hash_method": "SHA-256 computed server-side",
                        "collected_at": now,
                        "created_at": now,
                        "created_by": "bench",
                    }
                )
                next_item += 1
            conn.execute(insert(EvidenceItem), items)
            # The API's custody rows carry a role and JSON details: so do these.
            conn.execute(
                insert(CustodyEvent),
                [
                    {
                        "item_id": item["id"],
                        "action": action,
                        "actor": "bench",
                        "actor_name": "bench",
                        "actor_role": "detector token",
                        "purpose": "bench",
                        "occurred_at": now,
                        "details": {"sha256": item["sha256"], "hash_method": "SHA-256"},
                    }
                    for item in items
                    for action in ("collected", "ingested")
                ],
            )
    elapsed = time.perf_counter() - began
    engine.dispose()
    return len(findings) / elapsed


def _sqlite_copy(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def _postgres_admin() -> str | None:
    url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("COMPLIANCE_TEST_POSTGRES_URL")
    if not url:
        return None
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class _PostgresDatabases:
    """Fresh migrated databases on the configured server, dropped at the end."""

    def __init__(self, admin: str) -> None:
        from sqlalchemy import create_engine

        self.admin = admin
        self.engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def new(self, label: str) -> str:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        from compliance.migrate import upgrade

        name = f"bench_ingest_{label}_{os.getpid()}"
        with self.engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        self.names.append(name)
        url = make_url(self.admin).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        return url

    def drop(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            for name in self.names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        self.engine.dispose()


def _row(name: str, measured: float, reference: float, target: float | None) -> dict[str, Any]:
    ratio = measured / reference
    return {
        "name": name,
        "measured": round(measured, 1),
        "reference": round(reference, 1),
        "ratio": round(ratio, 3),
        "target": target,
        "unit": "findings/s",
        "passed": (ratio >= target) if target is not None else None,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """API ingest throughput vs raw Core insert, same rows, same run: SQLite with the filesystem
    store (targeted), then PostgreSQL with each evidence store (reported) when configured."""
    from compliance.migrate import upgrade

    count = BATCH * (1 if quick else 4)
    findings = _findings(count)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    rows = []
    try:
        template = workdir / "template.db"
        upgrade(f"sqlite:///{template}")
        reference = _core_rate(_sqlite_copy(template, workdir / "core.db"), findings)
        measured = _api_rate(_sqlite_copy(template, workdir / "api.db"), workdir, findings)
        rows.append(
            _row(
                f"ingest via API, batches of {BATCH} (SQLite, filesystem store, {count} findings)",
                measured,
                reference,
                TARGET_RATIO,
            )
        )
        admin = _postgres_admin()
        if admin is None:
            rows.append(
                {
                    "name": "ingest via API on PostgreSQL: not run (set BENCH_POSTGRES_URL)",
                    "measured": 0,
                    "reference": None,
                    "ratio": None,
                    "target": None,
                    "unit": "",
                    "passed": None,
                }
            )
            return rows
        databases = _PostgresDatabases(admin)
        try:
            reference = _core_rate(databases.new("core"), findings)
            for store in ("filesystem", "postgresql"):
                measured = _api_rate(databases.new(store), workdir, findings, store)
                rows.append(
                    _row(
                        f"ingest via API, batches of {BATCH} (PostgreSQL, {store} store, "
                        f"{count} findings)",
                        measured,
                        reference,
                        None,
                    )
                )
        finally:
            databases.drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
