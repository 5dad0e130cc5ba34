"""Kill -9 in the middle of work, a full disk: afterwards everything is consistent and retryable.

Each killed command runs as a real `compliance` subprocess against the test's database (a file
on SQLite, a database on PostgreSQL) and evidence folder; the test then checks the database
and the evidence store agree, both verifiers pass, and the interrupted work is either complete
or clearly failed and can be redone.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.db import utcnow
from compliance.evidence.models import EvidenceItem, Finding
from compliance.evidence.store import FilesystemStore
from compliance.extensions import db
from tests.security.helpers import (
    PROJECT,
    blob_files,
    cli_env,
    compliance_cmd,
    make_finding,
    row_counts,
    run_cli,
    write_jsonl,
)

pytestmark = pytest.mark.slow


def _start(app_config: dict[str, Any], *args: str) -> subprocess.Popen:
    db.session.commit()  # everything arranged so far is visible to the subprocess
    return subprocess.Popen(
        compliance_cmd(*args),
        env=cli_env(app_config),
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _kill_when(process: subprocess.Popen, condition: Callable[[], bool], limit: float = 60) -> bool:
    """SIGKILL the process as soon as `condition()` holds; False if it finished first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if condition():
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            return True
        time.sleep(0.005)
    process.kill()
    process.wait(30)
    raise AssertionError("the condition never held; output: " + process.stdout.read().decode())


def _verifiers_pass(app: Any) -> None:
    db.session.commit()  # end the test's read snapshot: the verifiers write (SQLite)
    evidence = run_cli(app, "evidence", "verify")
    assert evidence.exit_code == 0 and "evidence OK" in evidence.output, evidence.output
    audit = run_cli(app, "audit", "verify")
    assert audit.exit_code == 0 and "audit chain OK" in audit.output, audit.output
    db.session.expire_all()


# ---------------------------------------------------------------- ingest
def _batch(tag: str, count: int) -> list[dict[str, Any]]:
    attachment = base64.b64encode(b"x" * 4096).decode()
    return [
        make_finding(
            external_id=f"kill-{tag}-{i:05d}",
            subjects=[{"type": "account", "id": f"acct_{tag}_{i % 37}"}],
            attachments=[
                {
                    "name": f"sample-{i}.csv",
                    "media_type": "text/csv",
                    "content_base64": attachment[:-8] + base64.b64encode(b"%06d" % i).decode(),
                }
            ],
        )
        for i in range(count)
    ]


def test_kill_during_ingest_leaves_whole_batches_and_cleanable_orphans(app, app_config, tmp_path):
    files = {
        tag: write_jsonl(tmp_path / f"{tag}.jsonl", _batch(tag, 300)) for tag in ("a", "b", "c")
    }
    evidence_dir = Path(app_config["EVIDENCE_DIR"])
    process = _start(app_config, "ingest", *(str(p) for p in files.values()))
    # Kill once the first batch's bytes are being written: the batch is in flight.
    killed = _kill_when(
        process,
        lambda: any(
            p.is_file() for d in ("tmp", "packs", "sha256") for p in (evidence_dir / d).rglob("*")
        ),
    )
    assert killed, "ingest finished before it could be killed: make the batches bigger"

    db.session.expire_all()
    for tag in ("a", "b", "c"):
        count = db.session.scalar(
            select(db.func.count()).where(Finding.external_id.like(f"kill-{tag}-%"))
        )
        assert count in (0, 300), f"batch {tag} half stored: {count} of 300"
    _verifiers_pass(app)

    # Bytes written by the killed batch are orphans: listed, then cleaned, never referenced.
    referenced = set(db.session.scalars(select(EvidenceItem.sha256)))
    on_disk = set(FilesystemStore(evidence_dir).hashes())
    listed = run_cli(app, "evidence", "orphans", "--grace", "0")
    assert listed.exit_code == 0, listed.output
    assert f"{len(on_disk - referenced)} orphan blob(s)" in listed.output
    cleaned = run_cli(app, "evidence", "orphans", "--delete", "--grace", "0")
    assert cleaned.exit_code == 0, cleaned.output
    remaining = set(FilesystemStore(evidence_dir).hashes())
    assert remaining == referenced
    assert not list((evidence_dir / "tmp").glob("*.part"))

    # The interrupted work is retryable: the same files again store everything exactly once.
    again = _start(app_config, "ingest", *(str(p) for p in files.values()))
    output = again.communicate(timeout=300)[0].decode()
    assert again.returncode == 0, output
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(Finding)) == 900
    _verifiers_pass(app)


# ---------------------------------------------------------------- packet render
def test_kill_during_packet_render_is_failed_by_the_sweep_and_rebuilt(
    app, app_config, make_case, operator
):
    from compliance.evidence.operations import ingest_findings
    from compliance.packets.models import BatesGap, Packet
    from compliance.packets.operations import request_packet
    from compliance.packets.tasks import build_packet, fail_stale_builds

    outcomes = ingest_findings(
        [make_finding(subjects=[{"type": "account", "id": "acct_render"}]) for _ in range(30)],
        operator,
    )
    db.session.commit()
    from compliance.cases.operations import get_case

    case = get_case(outcomes[0].case_ref)
    packet = request_packet(case, "memo", operator)
    db.session.commit()
    packet_id = packet.id

    def rendering() -> bool:
        db.session.expire_all()
        status = db.session.scalar(select(Packet.status).where(Packet.id == packet_id))
        db.session.rollback()
        return status == "rendering"

    process = _start(app_config, "packet", "work", "--once")
    assert _kill_when(process, rendering), "the build finished before it could be killed"

    db.session.expire_all()
    stuck = db.session.get(Packet, packet_id)
    assert stuck.status == "rendering"  # the worker is gone; nothing else will finish it
    assert fail_stale_builds() == []  # too young to be declared lost
    assert fail_stale_builds(now=utcnow() + timedelta(hours=1)) == [packet_id]
    db.session.expire_all()
    failed = db.session.get(Packet, packet_id)
    assert failed.status == "failed" and "worker lost" in failed.failure_reason
    if failed.bates_first is not None:  # numbers spent before the kill are a recorded gap
        gap = db.session.scalar(select(BatesGap).where(BatesGap.packet_id == packet_id))
        assert (gap.first_number, gap.last_number) == (failed.bates_first, failed.bates_last)
    _verifiers_pass(app)

    retry = request_packet(db.session.get(type(case), case.id), "memo", operator)
    db.session.commit()
    result = build_packet(retry.id)
    assert result.packet.status == "stored", result.packet.failure_reason
    _verifiers_pass(app)


# ---------------------------------------------------------------- audit export
def test_kill_during_audit_export_leaves_no_partial_file(app, app_config, operator, tmp_path):
    from compliance.audit.chain import record
    from compliance.audit.verify_export import main as verify_export

    for number in range(3000):
        record("test.filler", actor=operator, object_type="test", object_id=number)
    db.session.commit()
    output = tmp_path / "export.json"
    process = _start(app_config, "audit", "export", "--format", "json", "-o", str(output))
    started = time.monotonic()

    def in_flight() -> bool:  # writing the file, or well into building the export
        return any(tmp_path.glob(".export.json.*.part")) or time.monotonic() - started > 1.5

    _kill_when(process, in_flight)
    if output.exists():  # complete, or not there at all: never a truncated file
        assert verify_export([str(output)]) == 0
    leftovers = {p.name for p in tmp_path.iterdir() if "export" in p.name} - {"export.json"}
    assert all(name.endswith(".part") and name.startswith(".") for name in leftovers), leftovers
    db.session.expire_all()
    _verifiers_pass(app)
    # Retry: the export completes and verifies; it was audited once per finished export.
    done = run_cli(app, "audit", "export", "--format", "json", "-o", str(output))
    assert done.exit_code == 0, done.output
    assert verify_export([str(output)]) == 0
    exported = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "audit.exported")
    ).all()
    assert exported and len(json.loads(output.read_text())["events"]) >= 3000


# ---------------------------------------------------------------- disk full
@pytest.fixture
def tiny_evidence_dir(tmp_path: Path) -> Iterator[Path | None]:
    """A 256 KiB tmpfs for the evidence store (root only); None where mounting is not allowed."""
    target = tmp_path / "tiny"
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    yield target if mounted.returncode == 0 else None
    if mounted.returncode == 0:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.mark.parametrize("how", ["tmpfs", "patched"])
def test_disk_full_while_writing_a_blob_is_a_clear_error_and_stores_nothing(
    how, app, client, operator, tiny_evidence_dir, monkeypatch
):
    from compliance.auth.operations import create_token
    from compliance.evidence import store as store_module

    if how == "tmpfs" and tiny_evidence_dir is not None:
        app.config["EVIDENCE_DIR"] = str(tiny_evidence_dir)
        size = 600 * 1024  # bigger than the file system
    else:  # the kernel's answer, without a file system to fill (also the tmpfs fallback)
        real_open = open

        class FullDisk:
            """A file on a full disk: it opens, but no byte can be written."""

            def __init__(self, handle: Any) -> None:
                self.handle = handle

            def __enter__(self) -> FullDisk:
                return self

            def __exit__(self, *exc: Any) -> None:
                self.handle.close()

            def write(self, _data: bytes) -> int:
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name: str) -> Any:
                return getattr(self.handle, name)

        def full_disk_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(path, mode, *args, **kwargs)
            return FullDisk(handle) if ("x" in mode or "w" in mode) else handle

        monkeypatch.setattr(store_module, "open", full_disk_open, raising=False)
        real_write = os.write
        evidence_root = os.path.realpath(app.config["EVIDENCE_DIR"])

        def full_disk_write(descriptor: int, data: Any) -> int:
            where = ""
            with contextlib.suppress(OSError):
                where = os.readlink(f"/proc/self/fd/{descriptor}")
            if where.startswith(evidence_root):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(descriptor, data)

        monkeypatch.setattr(os, "write", full_disk_write)
        size = 8 * 1024
    _token, raw = create_token(operator, "detector", ["ingest"])
    db.session.commit()
    before_rows = row_counts()
    before_blobs = blob_files(app.config["EVIDENCE_DIR"])
    body = make_finding(
        attachments=[
            {
                "name": "big.bin",
                "media_type": "application/octet-stream",
                "content_base64": base64.b64encode(bytes(size)).decode(),
            }
        ]
    )
    response = client.post(
        "/api/v1/findings", json=body, headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 507, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_storage" and "space" in error["message"]
    assert row_counts() == before_rows
    assert blob_files(app.config["EVIDENCE_DIR"]) == before_blobs  # no blob, no temporary
    rejected = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "finding.batch_rejected")
    ).all()
    assert rejected and "space" in rejected[-1].details["reason"]
