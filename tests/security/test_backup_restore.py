"""`compliance backup` then `compliance restore` onto an empty instance: everything verifies."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from compliance import create_app
from compliance.backup import COUNTED
from compliance.cases.operations import add_note
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db
from compliance.trail.checkpoints import write_checkpoint
from tests.conftest import _counter, _pg_execute, pg_url_for
from tests.security.helpers import audit_actions, make_finding, run_cli


@pytest.fixture
def empty_instance(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A second, migrated but empty instance: its own database, evidence and checkpoints."""
    root = tmp_path / "restored"
    if backend == "sqlite":
        target = root / "restored.db"
        target.parent.mkdir(parents=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
        name = None
    else:
        name = f"cmp_r_{os.getpid()}_{next(_counter)}"
        _pg_execute(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('pg_template')}")
        url = pg_url_for(name)
    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(root / "instance"),
        "EVIDENCE_DIR": str(root / "evidence"),
        "CHECKPOINT_DIR": str(root / "checkpoints"),
        "POLICIES_DIR": str(root / "policies"),
        "SERVER_NAME": "compliance.test",
    }
    yield config
    if name:
        _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _build_data(make_user: Any, operator: Any, actor_for: Any) -> None:
    make_user("counsel")
    analyst = actor_for("analyst")
    findings = [make_finding(subjects=[{"type": "account", "id": f"acct_bk{i}"}]) for i in range(4)]
    findings.append(make_finding(subjects=[{"type": "account", "id": "acct_bk0"}]))  # attaches
    outcomes = ingest_findings(findings, operator, channel="cli")
    db.session.commit()
    assert [o.status for o in outcomes].count("created") == 4
    from compliance.cases.operations import get_case

    case = get_case(outcomes[0].case_ref)
    add_note(case, analyst, "Templates match the **lattice** cluster.")
    add_note(case, operator, "Counsel's view: strong contract claim.", privileged=True)
    write_checkpoint(operator)
    db.session.commit()


def _counts(app: Flask) -> dict[str, int]:
    from compliance.backup import counts

    with app.app_context():
        result = counts()
        db.session.remove()
        return result


def test_backup_then_restore_onto_an_empty_instance(
    app, make_user, operator, actor_for, empty_instance, tmp_path
):
    _build_data(make_user, operator, actor_for)
    before = _counts(app)
    assert before["cases"] == 4 and before["findings"] == 5 and before["case_notes"] == 2

    folder = tmp_path / "backup"
    made = run_cli(app, "backup", str(folder))
    assert made.exit_code == 0, made.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"] == before  # the copy holds exactly what was counted
    assert "backup.created" in audit_actions()
    assert any(name.startswith("evidence/sha256/") for name in manifest["files"])
    assert any(name.startswith("checkpoints/") for name in manifest["files"])
    assert any(name.startswith("policies/") for name in manifest["files"])

    target = create_app(empty_instance)
    try:
        restored = run_cli(target, "restore", str(folder))
        assert restored.exit_code == 0, restored.output
        assert f"{len(manifest['tables'])} tables identical to the backup" in restored.output
        # Every policy version file came back, at its depth (policies/<document>/<version>.md).
        versions = sorted(
            p.relative_to(folder).as_posix() for p in (folder / "policies").rglob("*/*.md")
        )
        assert "policies/api-terms/2026-03.md" in versions
        for name in versions:
            restored_file = Path(empty_instance["POLICIES_DIR"]) / name.removeprefix("policies/")
            assert restored_file.read_bytes() == (folder / name).read_bytes()
        after = _counts(target)
        # The restore itself is the one audit event more.
        assert after == {**before, "audit_events": before["audit_events"] + 1}
        evidence = run_cli(target, "evidence", "verify")
        assert evidence.exit_code == 0, evidence.output
        assert "evidence OK" in evidence.output
        checkpoint = next(Path(empty_instance["CHECKPOINT_DIR"]).glob("checkpoint-*.json"))
        audit = run_cli(target, "audit", "verify", "--checkpoint", str(checkpoint))
        assert audit.exit_code == 0, audit.output
        assert "audit chain OK" in audit.output and "checkpoint seq=" in audit.output
        with target.app_context():
            actions = audit_actions()
            db.session.remove()
        assert "backup.restored" in actions
        assert "backup.created" not in actions  # recorded after the copy, in the live chain
        # A second restore onto the now non-empty instance is refused without --force.
        again = run_cli(target, "restore", str(folder))
        assert again.exit_code != 0 and "already holds data" in again.output
    finally:
        with target.app_context():
            db.engine.dispose()
    assert set(COUNTED.values()) <= set(before)


def test_restore_refuses_a_tampered_backup(
    app, make_user, operator, actor_for, empty_instance, tmp_path
):
    _build_data(make_user, operator, actor_for)
    folder = tmp_path / "backup"
    assert run_cli(app, "backup", str(folder)).exit_code == 0
    blob = next((folder / "evidence" / "sha256").glob("*/*"))
    blob.chmod(0o644)
    blob.write_bytes(b"forged evidence")
    (folder / "evidence" / "extra.bin").write_bytes(b"smuggled")

    target = create_app(empty_instance)
    try:
        refused = run_cli(target, "restore", str(folder))
        assert refused.exit_code != 0
        assert "does not match its manifest" in refused.output
        assert "altered" in refused.output and "not in the manifest" in refused.output
        assert _counts(target)["audit_events"] == 0  # nothing restored
        assert not list(Path(empty_instance["EVIDENCE_DIR"]).rglob("sha256/*/*/*"))
    finally:
        with target.app_context():
            db.engine.dispose()


def test_backup_refuses_a_non_empty_folder_and_non_operators(app, actor_for, tmp_path):
    from compliance.backup import backup
    from compliance.errors import Conflict, PermissionDenied

    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "something").write_text("x")
    with pytest.raises(Conflict):
        backup(actor_for("admin").__class__.cli_operator(), tmp_path / "used")
    with pytest.raises(PermissionDenied):
        backup(actor_for("admin"), tmp_path / "fresh")
