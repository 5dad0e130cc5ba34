"""Builders and state snapshots shared by the security tests (findings, counts, CLI)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from compliance.extensions import db
from tests.findings import make_finding  # noqa: F401 - re-exported for the security tests

_ids = itertools.count(1)
PROJECT = Path(__file__).resolve().parents[2]


def row_counts() -> dict[str, int]:
    """Rows of every table evidence ingestion writes to."""
    from compliance.cases.models import Case, CaseSubject, Subject
    from compliance.evidence.models import CustodyEvent, DuplicateFlag, EvidenceItem, Finding

    db.session.expire_all()
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) or 0
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


def blob_files(evidence_dir: str | Path) -> list[str]:
    """Every file under the evidence directory (blobs and temporaries)."""
    root = Path(evidence_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def audit_actions() -> list[str]:
    from compliance.audit.models import AuditEvent

    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def cli_env(config: dict[str, Any]) -> dict[str, str]:
    """Environment for a `compliance` subprocess using the test's database and folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
    env.update(
        {
            "COMPLIANCE_ENV": "development",
            "COMPLIANCE_DATABASE_URL": config["DATABASE_URL"],
            "COMPLIANCE_INSTANCE_PATH": config["INSTANCE_PATH"],
            "COMPLIANCE_EVIDENCE_DIR": config["EVIDENCE_DIR"],
            "COMPLIANCE_CHECKPOINT_DIR": config["CHECKPOINT_DIR"],
            "COMPLIANCE_SECRET_KEY": "test-secret-key-for-subprocesses",
            "PYTHONWARNINGS": "ignore",
        }
    )
    if config.get("POLICIES_DIR"):
        env["COMPLIANCE_POLICIES_DIR"] = config["POLICIES_DIR"]
    return env


def compliance_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from compliance.cli import main; main()", *args]


def run_compliance(config: dict[str, Any], *args: str, timeout: float = 120) -> Any:
    return subprocess.run(
        compliance_cmd(*args),
        env=cli_env(config),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_jsonl(path: Path, findings: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(f) for f in findings) + "\n")
    return path


def run_cli(app: Any, *args: str, input: str | None = None) -> Any:
    """Invoke `compliance ARGS` in-process against this app (its own app context)."""
    from compliance.cli import main

    # Flask's with_appcontext reuses a pushed context: push this app's own so it is the one used.
    with app.app_context():
        result = app.test_cli_runner().invoke(main, list(args), input=input)
        db.session.remove()
    return result
