"""Both evidence store backends keep the same promises: the filesystem one (one host or a shared
volume) and the PostgreSQL one (several hosts, no shared disk).

Each test here runs once per backend: `filesystem` on SQLite, `postgresql` on PostgreSQL (the
store needs it). The PostgreSQL-only tests at the end show the database refusing to change a
stored blob, and `evidence verify` catching a change made by someone who got past that.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from compliance import create_app
from compliance.audit.models import AuditEvent
from compliance.config import ConfigError, load_config
from compliance.evidence.models import EvidenceItem
from compliance.evidence.store import (
    PACK_LIMIT,
    BlobMissing,
    DatabaseStore,
    FilesystemStore,
    blob_store,
    checked_bytes,
)
from compliance.extensions import db
from tests.conftest import _counter, _pg_execute, pg_url_for
from tests.findings import make_finding
from tests.security.helpers import run_cli


@pytest.fixture(params=["filesystem", "postgresql"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def backend(store_kind: str, request: pytest.FixtureRequest) -> str:
    """The database each store runs with: the PostgreSQL store lives in PostgreSQL."""
    chosen = getattr(request, "param", None)  # a test may pick it (moving between stores)
    return chosen or ("sqlite" if store_kind == "filesystem" else "postgresql")


@pytest.fixture
def app_config(app_config: dict[str, Any], store_kind: str) -> dict[str, Any]:
    return {**app_config, "EVIDENCE_STORE": store_kind}


def _rows(store: Any) -> int:
    return len(list(store.hashes()))


def tamper(store: Any, sha256: str) -> None:
    """Change a stored blob's bytes in place, as someone past the store's guards could."""
    if isinstance(store, DatabaseStore):
        # A superuser can switch the table's triggers off for a session: the write-once rule
        # then no longer stops them, and only re-hashing shows what they did.
        with store.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text(
                    "UPDATE evidence_blobs SET data = overlay(data placing '\\xff'::bytea "
                    "from 1 for 1) WHERE sha256 = :sha"
                ),
                {"sha": sha256},
            )
        return
    from tests.evidence.conftest import tamper as tamper_file

    tamper_file(store, sha256)


def lose(store: Any, sha256: str) -> None:
    """Make a blob disappear (a deleted file, a deleted row)."""
    if isinstance(store, DatabaseStore):
        store.remove([sha256])
        return
    store.path(sha256).chmod(0o644)
    store.path(sha256).unlink()


# ---------------------------------------------------------------- the store's promises
def test_a_blob_is_written_once_and_read_back_as_stored(app):
    store = blob_store()
    digest, created = store.put(b"evidence")
    assert created and digest == hashlib.sha256(b"evidence").hexdigest()
    assert store.put(b"evidence") == (digest, False)  # never rewritten
    assert store.get(digest) == b"evidence" and store.check(digest) == "ok"
    assert store.exists(digest) and list(store.hashes()) == [digest]
    assert store.stale_temporaries(0) == []
    assert abs(store.written_at(digest) - time.time()) < 120


def test_a_batch_is_stored_together_and_repeats_are_stored_once(app):
    store = blob_store()
    small = [b"record one", b"record two", b"record one"]
    large = b"L" * PACK_LIMIT
    hashes = store.put_many([*small, large])
    assert hashes == [hashlib.sha256(data).hexdigest() for data in [*small, large]]
    for sha, data in zip(hashes, [*small, large], strict=True):
        assert store.get(sha) == data and store.check(sha) == "ok"
    assert list(store.hashes()) == sorted(set(hashes))
    assert store.put_many([b"record two", large]) == [hashes[1], hashes[3]]
    assert _rows(store) == 3


def test_an_unknown_hash_is_missing(app):
    store = blob_store()
    unknown = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(unknown) and store.check(unknown) == "missing"
    with pytest.raises(BlobMissing):
        store.get(unknown)


def test_removing_orphans_keeps_every_other_blob(app):
    store = blob_store()
    orphan, kept = store.put_many([b"orphan", b"resent after the crash"])
    single, _created = store.put(b"another orphan")
    store.remove([orphan, single])
    assert not store.exists(orphan) and not store.exists(single)
    assert store.get(kept) == b"resent after the crash" and list(store.hashes()) == [kept]


def test_a_tampered_blob_is_altered_and_is_never_served(app):
    store = blob_store()
    first, second = store.put_many([b"first finding", b"second finding"])
    tamper(store, first)
    assert store.check(first) == "altered" and store.check(second) == "ok"
    with pytest.raises(Exception, match="altered"):
        checked_bytes(store, first)
    assert checked_bytes(store, second) == b"second finding"


def test_evidence_verify_reports_altered_and_missing_blobs(app, operator):
    from compliance.evidence.operations import ingest_findings

    big = __import__("base64").b64encode(b"c" * PACK_LIMIT).decode()
    ingest_findings(
        [
            make_finding(
                attachments=[{"name": "big.csv", "media_type": "text/csv", "content_base64": big}]
            )
        ],
        operator,
        channel="cli",
    )
    db.session.commit()
    ok = run_cli(app, "evidence", "verify")
    assert ok.exit_code == 0, ok.output
    assert "evidence OK: 2 blobs verified for 2 items" in ok.output

    record, attachment = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)).all()
    store = blob_store()
    tamper(store, record.sha256)
    lose(store, attachment.sha256)
    broken = run_cli(app, "evidence", "verify")
    assert broken.exit_code == 1
    assert f"sha256={record.sha256} altered" in broken.output
    assert f"sha256={attachment.sha256} missing" in broken.output


def test_a_crash_before_commit_leaves_only_orphans_the_store_can_clean(app, operator):
    from compliance.evidence.operations import clean_orphans, find_orphans, ingest_findings

    store = blob_store()
    before = _rows(store)
    ingest_findings([make_finding()], operator, channel="cli")
    db.session.rollback()  # the process died before the commit; the bytes were written
    assert _rows(store) == before + 2
    assert len(find_orphans(grace_seconds=0)) == 2
    db.session.commit()
    listed = run_cli(app, "evidence", "orphans", "--grace", "0")
    assert listed.exit_code == 0 and "2 orphan blob(s)" in listed.output
    removed = run_cli(app, "evidence", "orphans", "--grace", "0", "--delete")
    assert removed.exit_code == 0 and "2 orphan blob(s) removed" in removed.output
    assert _rows(store) == before
    assert clean_orphans(operator, grace_seconds=0) == []


def test_checkpoints_are_kept_in_the_store_and_served_from_it(app, login_as, operator):
    """A checkpoint written by one host's scheduler downloads from any host."""
    from compliance.trail.checkpoints import write_checkpoint

    checkpoint = write_checkpoint(operator)
    db.session.commit()
    stored = blob_store().get(checkpoint.sha256)
    assert json.loads(stored)["head_hash"] == checkpoint.head_hash
    # The host that serves the page has no checkpoint folder of its own.
    shutil.rmtree(app.config["CHECKPOINT_DIR"])
    _auditor, client = login_as("auditor")
    page = client.get("/audit/")
    assert f"/audit/checkpoints/{checkpoint.id}" in page.get_data(as_text=True)
    download = client.get(f"/audit/checkpoints/{checkpoint.id}")
    assert download.status_code == 200 and download.data == stored
    assert download.headers["X-Content-SHA256"] == checkpoint.sha256
    verified = run_cli(app, "evidence", "verify")  # checkpoint files are re-hashed too
    assert verified.exit_code == 0, verified.output
    tamper(blob_store(), checkpoint.sha256)
    assert client.get(f"/audit/checkpoints/{checkpoint.id}").status_code == 409


def test_a_host_with_another_audit_key_refuses_to_sign(app, operator, tmp_path):
    from compliance.errors import Conflict
    from compliance.trail.checkpoints import write_checkpoint

    write_checkpoint(operator)
    db.session.commit()
    app.config["AUDIT_KEY_PATH"] = str(tmp_path / "another-host" / "audit_key.pem")
    with pytest.raises(Conflict, match="same COMPLIANCE_AUDIT_KEY_PATH on every host"):
        write_checkpoint(operator)
    db.session.rollback()


# ---------------------------------------------------------------- backup and restore
@pytest.fixture
def empty_instance(
    app_config: dict[str, Any], backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A second, migrated but empty instance with the same kind of store."""
    root = tmp_path / "restored"
    root.mkdir()
    name = None
    if backend == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), root / "restored.db")
        url = f"sqlite:///{root / 'restored.db'}"
    else:
        name = f"cmp_r_{os.getpid()}_{next(_counter)}"
        _pg_execute(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('pg_template')}")
        url = pg_url_for(name)
    yield {
        **app_config,
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(root / "instance"),
        "EVIDENCE_DIR": str(root / "evidence"),
        "CHECKPOINT_DIR": str(root / "checkpoints"),
    }
    if name:
        _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_backup_and_restore_carry_every_blob(app, operator, empty_instance, tmp_path):
    from compliance.evidence.operations import ingest_findings
    from compliance.trail.checkpoints import write_checkpoint

    ingest_findings([make_finding(), make_finding()], operator, channel="cli")
    write_checkpoint(operator)
    db.session.commit()
    hashes = sorted(blob_store().hashes())
    made = run_cli(app, "backup", str(tmp_path / "backup"))
    assert made.exit_code == 0, made.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert (
        sorted(name.rsplit("/", 1)[1] for name in manifest["files"] if name.startswith("evidence/"))
        == hashes
    )

    target = create_app(empty_instance)
    restored = run_cli(target, "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    with target.app_context():
        assert sorted(blob_store().hashes()) == hashes
        db.session.remove()
    verified = run_cli(target, "evidence", "verify")
    assert verified.exit_code == 0, verified.output


# ---------------------------------------------------------------- moving between backends
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_kind", ["filesystem"], indirect=True)
def test_moving_a_store_to_postgresql_and_back_verifies_every_hash(app, operator, tmp_path):
    """An installation outgrows one host: its evidence moves into PostgreSQL, then back."""
    from compliance.evidence.operations import ingest_findings

    big = __import__("base64").b64encode(b"b" * PACK_LIMIT).decode()
    ingest_findings(
        [
            make_finding(
                attachments=[{"name": "big.csv", "media_type": "text/csv", "content_base64": big}]
            ),
            make_finding(),
        ],
        operator,
        channel="cli",
    )
    db.session.commit()
    hashes = sorted(blob_store().hashes())
    count = len(hashes)

    moved = run_cli(app, "evidence", "move-store", "--to", "postgresql")
    assert moved.exit_code == 0, moved.output
    assert f"{count} blobs, {count} copied, 0 already there, every hash verified" in moved.output
    database = DatabaseStore(db.engine)
    assert sorted(database.hashes()) == hashes

    app.config["EVIDENCE_STORE"] = "postgresql"  # the operator switches every host over
    shutil.rmtree(app.config["EVIDENCE_DIR"])
    verified = run_cli(app, "evidence", "verify")
    assert verified.exit_code == 0, verified.output
    again = run_cli(app, "evidence", "move-store", "--to", "postgresql")
    assert again.exit_code != 0 and "already postgresql" in again.output

    back = run_cli(
        app, "evidence", "move-store", "--to", "filesystem", "--dir", str(tmp_path / "back")
    )
    assert back.exit_code == 0, back.output
    assert sorted(FilesystemStore(tmp_path / "back").hashes()) == hashes
    moves = select(AuditEvent).where(AuditEvent.action == "evidence.store_moved")
    actions = db.session.scalars(moves.order_by(AuditEvent.seq)).all()
    assert [(a.details["move"].split(" -> ")[1], a.details["ok"]) for a in actions] == [
        ("postgresql", True),
        (f"filesystem:{tmp_path / 'back'}", True),
    ]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_kind", ["filesystem"], indirect=True)
def test_a_move_reports_a_damaged_blob_and_does_not_copy_it(app, operator):
    from compliance.evidence.operations import ingest_findings

    ingest_findings([make_finding()], operator, channel="cli")
    db.session.commit()
    record = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)).first()
    tamper(blob_store(), record.sha256)
    moved = run_cli(app, "evidence", "move-store", "--to", "postgresql")
    assert moved.exit_code == 1
    assert f"sha256={record.sha256} altered in the source" in moved.output
    assert not DatabaseStore(db.engine).exists(record.sha256)


# ---------------------------------------------------------------- PostgreSQL: write-once
@pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE evidence_blobs SET data = 'forged'::bytea",
        "DELETE FROM evidence_blobs",
        "TRUNCATE evidence_blobs",
    ],
)
def test_the_database_refuses_to_change_or_drop_a_stored_blob(app, statement):
    store = blob_store()
    sha, _created = store.put(b"a finding as received")
    with (
        pytest.raises(DBAPIError, match="evidence_blobs is write-once"),
        store.engine.begin() as conn,
    ):
        conn.execute(text(statement))
    assert store.get(sha) == b"a finding as received" and store.check(sha) == "ok"


def test_the_postgresql_store_needs_a_postgresql_database(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_EVIDENCE_STORE", "postgresql")
    with pytest.raises(ConfigError, match="must be a PostgreSQL URL"):
        load_config(tmp_path)
    monkeypatch.setenv("COMPLIANCE_EVIDENCE_STORE", "s3")
    with pytest.raises(ConfigError, match="'filesystem' or 'postgresql'"):
        load_config(tmp_path)


@pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True)
def test_a_host_on_the_postgresql_store_keeps_no_evidence_on_disk(app, operator):
    """Ingest and a checkpoint keep their bytes in the database: no evidence folder at all."""
    from compliance.evidence.operations import ingest_findings
    from compliance.trail.checkpoints import write_checkpoint

    ingest_findings([make_finding()], operator, channel="cli")
    write_checkpoint(operator)
    db.session.commit()
    assert not Path(app.config["EVIDENCE_DIR"]).exists()
    assert _rows(blob_store()) == 3
