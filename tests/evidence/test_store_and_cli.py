"""The evidence store: write-once blobs, `evidence verify` catching tampering, CLI ingestion."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.evidence.models import CustodyEvent, EvidenceItem, Finding
from compliance.evidence.store import PACK_LIMIT, FilesystemStore, blob_store, read_pack_index
from compliance.extensions import db
from tests.evidence.conftest import tamper


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


def test_a_batch_goes_into_one_write_once_pack_and_large_blobs_stay_single_files(tmp_path):
    store = FilesystemStore(tmp_path)
    small = [b"record one", b"record two", b"record one"]  # a repeat is stored once
    large = b"L" * PACK_LIMIT
    hashes = store.put_many([*small, large])
    (pack,) = store.packs.iterdir()
    assert pack.stat().st_mode & 0o222 == 0
    assert [sha for sha, _offset, _length in read_pack_index(pack)] == hashes[:2]
    assert store.path(hashes[3]).is_file() and store.path(hashes[3]).stat().st_mode & 0o222 == 0
    for sha, data in zip(hashes, [*small, large], strict=True):
        assert store.get(sha) == data and store.check(sha) == "ok" and store.exists(sha)
    assert list(store.hashes()) == sorted(set(hashes))
    # Write-once: storing the same bytes again writes no new file.
    assert store.put_many([b"record two", large]) == [hashes[1], hashes[3]]
    assert store.put(b"record one") == (hashes[0], False)
    assert list(store.packs.iterdir()) == [pack] and list(store.tmp.iterdir()) == []


def test_packs_written_by_another_process_are_found(tmp_path):
    reader = FilesystemStore(tmp_path)
    assert not reader.exists(hashlib.sha256(b"later").hexdigest())  # index read (empty)
    (sha,) = FilesystemStore(tmp_path).put_many([b"later"])
    assert reader.get(sha) == b"later" and reader.check(sha) == "ok"


def test_blobs_in_the_single_file_layout_stay_readable(tmp_path):
    """Stores written before packs existed hold one file per blob at sha256/ab/<hex>."""
    data = b'{"schema": "distillation-finding/v1"}'
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "sha256" / sha[:2]).mkdir(parents=True)
    (tmp_path / "sha256" / sha[:2] / sha).write_bytes(data)
    store = FilesystemStore(tmp_path)
    assert store.get(sha) == data and store.check(sha) == "ok" and list(store.hashes()) == [sha]
    assert store.put_many([data]) == [sha]
    assert list(store.packs.iterdir()) == []  # already stored: not written again


def test_tampering_inside_a_pack_is_detected(tmp_path):
    store = FilesystemStore(tmp_path)
    first, second = store.put_many([b"first finding", b"second finding"])
    tamper(store, first)
    assert store.check(first) == "altered" and store.check(second) == "ok"
    (pack,) = store.packs.iterdir()
    pack.chmod(0o644)
    pack.unlink()
    assert FilesystemStore(tmp_path).check(second) == "missing"
    assert store.check(second) == "missing"  # a process that had read the pack's index


def test_removing_orphans_drops_their_pack_and_keeps_blobs_still_referenced(tmp_path):
    store = FilesystemStore(tmp_path)
    orphan, resent = store.put_many([b"orphan", b"resent after the crash"])
    store.remove([orphan])
    assert list(store.packs.iterdir()) == []
    assert not store.exists(orphan)
    assert store.get(resent) == b"resent after the crash" and store.check(resent) == "ok"
    assert list(store.hashes()) == [resent]


def test_evidence_verify_reports_altered_and_missing_blobs(app, post_findings, finding):
    big = base64.b64encode(b"c" * PACK_LIMIT).decode()  # large: kept as a single file
    post_findings(
        finding(attachments=[{"name": "big.csv", "media_type": "text/csv", "content_base64": big}])
    )
    ok = run_cli(app, "evidence", "verify")
    assert ok.exit_code == 0, ok.output
    assert "evidence OK: 2 blobs verified for 2 items" in ok.output

    record, attachment = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)).all()
    store = blob_store()
    tamper(store, record.sha256)  # in the batch's pack
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
    assert result.exit_code == 2  # invalid input (README "Exit codes")
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


def test_ingestion_leaves_the_garbage_collector_as_it_found_it(app, finding, operator):
    import gc

    import pytest

    from compliance.errors import InvalidInput
    from compliance.evidence.operations import ingest_findings

    ingest_findings([finding()], operator, channel="cli")
    assert gc.isenabled()  # paused only while the batch was built
    with pytest.raises(InvalidInput):
        ingest_findings([finding(confidence=7)], operator, channel="cli")
    assert gc.isenabled()
    gc.disable()
    try:
        ingest_findings([finding()], operator, channel="cli")
        assert not gc.isenabled()  # disabled by someone else: left so
    finally:
        gc.enable()
    db.session.rollback()
