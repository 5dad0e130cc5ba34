"""The evidence store: write-once blobs, `evidence verify` catching tampering, CLI ingestion."""

from __future__ import annotations

import json
import os

from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.evidence.models import CustodyEvent, EvidenceItem, Finding
from compliance.evidence.store import FilesystemStore, blob_store
from compliance.extensions import db


def run_cli(app, *args, input=None):
    from compliance.cli import main

    return app.test_cli_runner().invoke(main, list(args), input=input)


def test_store_never_rewrites_an_existing_blob(tmp_path):
    store = FilesystemStore(tmp_path)
    digest, created = store.put(b"evidence")
    assert created
    again, created_again = store.put(b"evidence")
    assert (again, created_again) == (digest, False)
    assert store.get(digest) == b"evidence" and store.check(digest) == "ok"
    assert list(store.tmp.iterdir()) == []  # no temporary file left behind


def test_evidence_verify_reports_altered_and_missing_blobs(app, post_findings, finding):
    post_findings(finding())
    ok = run_cli(app, "evidence", "verify")
    assert ok.exit_code == 0, ok.output
    assert "evidence OK: 2 blobs verified for 2 items" in ok.output

    record, attachment = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)).all()
    store = blob_store()
    altered = store.path(record.sha256)
    altered.chmod(0o644)
    altered.write_bytes(b'{"confidence": 0.01}')
    store.path(attachment.sha256).chmod(0o644)
    store.path(attachment.sha256).unlink()

    broken = run_cli(app, "evidence", "verify")
    assert broken.exit_code == 1
    assert f"sha256={record.sha256} altered" in broken.output
    assert f"sha256={attachment.sha256} missing" in broken.output
    db.session.expire_all()
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "evidence.verified").order_by(AuditEvent.seq)
    ).all()
    assert [a.details["ok"] for a in audit] == [True, False]
    results = db.session.scalars(
        select(CustodyEvent.details).where(
            CustodyEvent.action == "verified", CustodyEvent.item_id == record.id
        )
    ).all()
    assert [r["result"] for r in results] == ["ok", "altered"]


def test_cli_ingests_json_and_jsonl_files_and_summarises(app, finding, tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps(finding(subjects=[{"type": "account", "id": "acct_a"}])))
    lines = tmp_path / "many.jsonl"
    lines.write_text(
        "\n".join(
            json.dumps(finding(subjects=[{"type": "account", "id": "acct_a"}])) for _ in range(3)
        )
    )
    result = run_cli(app, "ingest", str(single), str(lines))
    assert result.exit_code == 0, result.output
    assert "1 created (new case), 3 attached, 0 duplicate, 0 file(s) rejected" in result.output
    again = run_cli(app, "ingest", str(single))
    assert "0 created (new case), 0 attached, 1 duplicate" in again.output
    db.session.expire_all()
    assert {f.ingested_by for f in db.session.scalars(select(Finding))} == {
        f"cli:{os.environ.get('USER') or __import__('getpass').getuser()}"
    }


def test_cli_rejects_a_bad_file_whole_and_exits_non_zero(app, finding, tmp_path, snapshot):
    good = tmp_path / "good.json"
    good.write_text(json.dumps([finding()]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([finding(), finding(confidence=7)]))
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    before = snapshot()
    result = run_cli(app, "ingest", str(bad), str(broken), str(good))
    assert result.exit_code == 1
    assert "REJECTED" in result.output and "item 1: confidence" in result.output
    assert "1 created (new case), 0 attached, 0 duplicate, 2 file(s) rejected" in result.output
    rows, blobs = snapshot()
    assert rows["findings"] == before[0]["findings"] + 1  # only the good file
    assert blobs == before[1] + 2


def test_a_crash_before_commit_leaves_only_orphans_the_store_can_clean(
    app, finding, operator, snapshot
):
    from compliance.evidence.operations import clean_orphans, find_orphans, ingest_findings

    before_rows, before_blobs = snapshot()
    ingest_findings([finding()], operator, channel="cli")
    db.session.rollback()  # the process died before the commit
    rows, blobs = snapshot()
    assert rows == before_rows and blobs == before_blobs + 2
    assert len(find_orphans(grace_seconds=0)) == 2
    assert clean_orphans(operator, grace_seconds=0)
    db.session.commit()
    assert snapshot()[1] == before_blobs
