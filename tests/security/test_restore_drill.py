"""Restore drills: a backup of the demo instance restores with every row and every file intact.

The operator's story: `compliance backup DIR` into protected storage, then `compliance backup
drill DIR` proves that folder restores (into a throw-away instance) before it is ever needed;
the scheduler runs the same drill weekly and the audit page shows the last verdict.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.backup import last_drill, table_digests
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.policies.operations import policies_dir
from tests.security.helpers import run_cli


@pytest.fixture
def demo_instance(app, backend):
    """The demo instance (`compliance demo`: users, cases, evidence, packets) and a checkpoint."""
    for command in (("demo",), ("audit", "checkpoint")):
        result = run_cli(app, *command)
        assert result.exit_code == 0, result.output
    return app


def _live_tables(app, backend: str) -> dict:
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            return table_digests(raw.driver_connection, backend)
        finally:
            raw.rollback()
            raw.close()
            db.session.remove()


def test_a_drill_restores_the_demo_backup_with_every_row_and_file_identical(
    demo_instance, backend, tmp_path
):
    app = demo_instance
    source_tables = _live_tables(app, backend)
    folder = tmp_path / "backup"
    made = run_cli(app, "backup", str(folder))
    assert made.exit_code == 0, made.output

    manifest = json.loads((folder / "manifest.json").read_text())
    # The manifest describes the live database exactly as it was copied: every table, every row.
    assert manifest["tables"] == source_tables
    assert {"audit_events", "cases", "findings", "packets", "custody_events"} <= set(
        manifest["tables"]
    )
    # Every policy file, at any depth (versions live in policies/<document>/<version>.md).
    policies = policies_dir(app.config)
    expected_policies = {
        f"policies/{p.relative_to(policies).as_posix()}" for p in policies.rglob("*") if p.is_file()
    }
    assert "policies/api-terms/2026-03.md" in expected_policies
    assert expected_policies <= set(manifest["files"])
    for name in expected_policies:  # the manifest's hashes are the live files' hashes
        live = policies / name.removeprefix("policies/")
        assert manifest["files"][name]["sha256"] == hashlib.sha256(live.read_bytes()).hexdigest()
    with app.app_context():
        blobs = set(blob_store().hashes())
    assert blobs and blobs == {
        name.rsplit("/", 1)[1] for name in manifest["files"] if name.startswith("evidence/")
    }
    assert "keys/audit_key.pem" in manifest["files"]
    assert any(name.startswith("checkpoints/") for name in manifest["files"])

    drilled = run_cli(app, "backup", "drill", str(folder))
    assert drilled.exit_code == 0, drilled.output
    verdict = drilled.output.strip().splitlines()[-1]
    assert verdict.startswith("drill OK:"), drilled.output
    rows = sum(table["rows"] for table in source_tables.values())
    assert f"{len(source_tables)} tables ({rows} rows)" in verdict
    assert "audit chain OK" in verdict and "evidence OK" in verdict

    # The verdict is in the live chain, where the audit page reads it.
    with app.app_context():
        event = last_drill()
        assert event.details["ok"] is True and event.details["verdict"] == verdict
        assert event.details["manifest_sha256"] == made.output.split("manifest sha256=")[1].strip()
        db.session.remove()


def test_a_drill_names_every_table_that_did_not_come_back_identical(
    demo_instance, backend, tmp_path
):
    app = demo_instance
    folder = tmp_path / "backup"
    assert run_cli(app, "backup", str(folder)).exit_code == 0
    # The manifest lists what the source held: pretend the source had different case rows.
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["cases"]["sha256"] = "0" * 64
    manifest["tables"]["findings"]["rows"] += 1
    manifest_path.write_text(json.dumps(manifest))

    drilled = run_cli(app, "backup", "drill", str(folder))
    assert drilled.exit_code == 1, drilled.output
    assert "table cases: same row count, different rows" in drilled.output
    assert "table findings:" in drilled.output and "rows restored" in drilled.output
    assert drilled.output.strip().splitlines()[-1].startswith("drill FAILED")
    with app.app_context():
        assert last_drill().details["ok"] is False
        db.session.remove()


def test_a_drill_of_a_tampered_backup_fails_before_restoring(demo_instance, tmp_path):
    app = demo_instance
    folder = tmp_path / "backup"
    assert run_cli(app, "backup", str(folder)).exit_code == 0
    version = folder / "policies" / "api-terms" / "2026-03.md"
    version.write_text(version.read_text() + "\nA clause nobody agreed to.\n")

    drilled = run_cli(app, "backup", "drill", str(folder))
    assert drilled.exit_code == 1
    assert "policies/api-terms/2026-03.md: altered" in drilled.output


def test_without_a_folder_the_drill_backs_up_afresh_or_tests_the_newest_backup(
    demo_instance, tmp_path
):
    app = demo_instance
    fresh = run_cli(app, "backup", "drill")
    assert fresh.exit_code == 0, fresh.output
    assert fresh.output.strip().splitlines()[-1].startswith("drill OK:")

    kept = tmp_path / "kept"
    assert run_cli(app, "backup", str(kept / "2026-12-01")).exit_code == 0
    assert run_cli(app, "backup", str(kept / "2026-12-06")).exit_code == 0
    app.config["BACKUP_DIR"] = str(kept)
    try:
        newest = run_cli(app, "backup", "drill")
    finally:
        app.config["BACKUP_DIR"] = None
    assert newest.exit_code == 0, newest.output
    with app.app_context():
        assert last_drill().details["directory"] == str((kept / "2026-12-06").resolve())
        actions = list(
            db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("backup.%")))
        )
        db.session.remove()
    # The fresh drill's own backup, the two kept ones, and one verdict per drill.
    assert actions.count("backup.created") == 3 and actions.count("backup.drilled") == 2


def test_the_weekly_scheduled_drill_shows_its_verdict_on_the_audit_page(
    app, make_case, login_as, tmp_path
):
    from compliance.reviews import scheduler, tasks

    spec = next(s for s in scheduler.job_specs() if s.id == "backup-drill")
    assert spec.misfire_grace_time >= 24 * 3600  # a drill missed over a weekend still runs
    make_case(title="Held for the drill")
    db.session.commit()
    _, client = login_as("auditor")
    assert "never run" in client.get("/audit/").get_data(as_text=True)

    summary = tasks.backup_drill()
    assert summary["verdict"].startswith("drill OK:")
    page = client.get("/audit/").get_data(as_text=True)
    status = page.split("Last restore drill")[1].split("</dd>")[0]
    assert (
        "OK" in status and summary["verdict"] in status and "by scheduler (backup-drill)" in status
    )

    # A drill that finds a difference fails the job (recorded as job.failed by the runner).
    app.config["BACKUP_DIR"] = str(tmp_path / "nothing-here")
    (tmp_path / "nothing-here").mkdir()
    try:
        with pytest.raises(Exception, match="no backup in"):
            tasks.backup_drill()
    finally:
        app.config["BACKUP_DIR"] = None


def test_a_drill_that_cannot_restore_fails_with_the_reason(app, make_case, tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from compliance.backup import drills

    make_case()
    folder = tmp_path / "backup"
    assert run_cli(app, "backup", str(folder)).exit_code == 0

    def no_createdb(work):
        raise OperationalError("CREATE DATABASE", {}, Exception("permission denied"))

    monkeypatch.setattr(drills, "_temporary_database", no_createdb)
    refused = run_cli(app, "backup", "drill", str(folder))
    assert refused.exit_code == 1 and "cannot create a temporary database" in refused.output
    monkeypatch.undo()

    def broken(source, manifest):
        raise RuntimeError("pg_restore: out of disk space")

    monkeypatch.setattr(drills, "_restore_database", broken)
    failed = run_cli(app, "backup", "drill", str(folder))
    assert failed.exit_code == 1
    assert "restore failed: RuntimeError: pg_restore: out of disk space" in failed.output
    with app.app_context():
        assert last_drill().details["ok"] is False
        db.session.remove()
