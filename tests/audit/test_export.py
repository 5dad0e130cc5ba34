"""A regulator's export verifies with the standalone verifier, alone, outside the project."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compliance import PROJECT_ROOT
from compliance.audit.models import AuditEvent
from compliance.cases import operations
from compliance.errors import PermissionDenied
from compliance.extensions import db
from compliance.trail.export import export_audit


def run_verifier(*args: str, copy_to: Path | None = None) -> subprocess.CompletedProcess:
    """Run the verifier as a third party would: by default a copy of the file, run alone."""
    if copy_to is not None:
        script = copy_to / "verify_export.py"
        shutil.copyfile(PROJECT_ROOT / "compliance" / "audit" / "verify_export.py", script)
        command = [sys.executable, "-I", str(script), *args]
        cwd = copy_to
    else:
        command = [sys.executable, "-m", "compliance.audit.verify_export", *args]
        cwd = PROJECT_ROOT
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def history(app, make_case, actor_for):
    analyst = actor_for("analyst")
    first = make_case(actor=analyst, title="Coding sweep — ünïcode “quotes”")
    second = make_case(actor=analyst, title="Maths sweep")
    operations.add_note(first, analyst, "Templates match across 212 accounts.")
    operations.update_case(first, analyst, {"severity": "high", "summary": "line1\nline2"})
    operations.transition_case(second, "triage", analyst)
    db.session.commit()
    return first, second


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_full_export_verifies_with_the_standalone_verifier(history, actor_for, tmp_path, fmt):
    export = export_audit(actor_for("auditor"), fmt)
    db.session.commit()
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(export.content)
    result = run_verifier(str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK {export.count} events" in result.stdout
    assert not export.header["filtered"] and export.header["first_prev_hash"] == "0" * 64
    alone = run_verifier(str(path), copy_to=tmp_path)  # copied out, no project on the path
    assert alone.returncode == 0, alone.stdout + alone.stderr


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_doctored_export_fails_naming_the_event(history, actor_for, tmp_path, fmt):
    export = export_audit(actor_for("auditor"), fmt)
    path = tmp_path / f"export.{fmt}"
    text = export.content.decode()
    assert "Maths sweep" in text
    path.write_text(text.replace("Maths sweep", "Math sweep"))
    result = run_verifier(str(path))
    assert result.returncode == 1
    seq = db.session.scalar(
        select(AuditEvent.seq)
        .where(AuditEvent.action == "case.created")
        .order_by(AuditEvent.seq.desc())
    )
    assert f"FAILED seq={seq}" in result.stdout


def test_dropping_an_event_from_an_export_is_detected(history, actor_for, tmp_path):
    export = export_audit(actor_for("auditor"), "json")
    document = json.loads(export.content)
    removed = document["events"].pop(3)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document))
    result = run_verifier(str(path))
    assert result.returncode == 1 and f"seq={removed['seq'] + 1}" in result.stdout


def test_export_of_one_case_holds_only_that_case(history, actor_for, tmp_path):
    first, second = history
    export = export_audit(actor_for("auditor"), "json", case_ref=first.ref)
    document = json.loads(export.content)
    assert document["filtered"] is True and document["events"]
    assert {e["case_ref"] for e in document["events"]} == {first.ref}
    expected = db.session.scalar(
        select(db.func.count()).select_from(AuditEvent).where(AuditEvent.case_ref == first.ref)
    )
    assert len(document["events"]) == expected
    path = tmp_path / "case.json"
    path.write_bytes(export.content)
    assert run_verifier(str(path)).returncode == 0


def test_period_export_is_a_contiguous_chain(history, actor_for, tmp_path):
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    since, until = events[2].occurred_at, events[-1].occurred_at
    export = export_audit(actor_for("auditor"), "csv", since=since, until=until)
    assert export.header["first_prev_hash"] == events[2].prev_hash
    assert export.header["verification"]["ok"]
    path = tmp_path / "period.csv"
    path.write_bytes(export.content)
    assert run_verifier(str(path)).returncode == 0


def test_the_export_is_audited_with_its_hash(history, actor_for):
    export = export_audit(actor_for("auditor"), "json", case_ref=history[0].ref)
    db.session.commit()
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "audit.exported")
        .order_by(AuditEvent.seq.desc())
    )
    assert event.details["sha256"] == hashlib.sha256(export.content).hexdigest()
    assert event.details["filters"]["case"] == history[0].ref
    assert event.details["format"] == "json"


@pytest.mark.parametrize("role", ["analyst", "counsel", "admin"])
def test_only_auditors_export(history, actor_for, role):
    with pytest.raises(PermissionDenied):
        export_audit(actor_for(role), "json")


def test_export_from_the_ui_for_auditors_only(history, login_as):
    _, analyst = login_as("analyst")
    assert analyst.post("/audit/export", data={"format": "json"}).status_code == 403
    _, counsel = login_as("counsel")
    assert counsel.post("/audit/export", data={"format": "json"}).status_code == 403
    _, auditor = login_as("auditor")
    response = auditor.post("/audit/export", data={"format": "csv", "case": history[0].ref})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-SHA256"] == hashlib.sha256(response.data).hexdigest()
    assert (
        db.session.scalar(
            select(db.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "audit.exported")
        )
        == 1
    )


def test_pdf_report(history, actor_for):
    export = export_audit(actor_for("auditor"), "pdf")
    assert export.content.startswith(b"%PDF")
    from io import BytesIO

    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(BytesIO(export.content)).pages)
    assert "Audit trail report" in text and "VERIFIED" in text
    assert "case.created" in text


def test_export_with_checkpoint_proves_the_head(history, actor_for, operator, tmp_path):
    from flask import current_app

    from compliance.trail.checkpoints import write_checkpoint

    checkpoint = write_checkpoint(operator)
    db.session.commit()
    cp_path = Path(current_app.config["CHECKPOINT_DIR"]) / checkpoint.file_name
    export = export_audit(actor_for("auditor"), "json")
    path = tmp_path / "export.json"
    path.write_bytes(export.content)
    assert run_verifier(str(path), "--checkpoint", str(cp_path)).returncode == 0
    document = json.loads(export.content)
    document["events"] = [e for e in document["events"] if e["seq"] < checkpoint.seq]
    path.write_text(json.dumps(document))
    result = run_verifier(str(path), "--checkpoint", str(cp_path))
    assert result.returncode == 1 and f"seq={checkpoint.seq}" in result.stdout


@pytest.fixture
def megabyte_event(app, operator):
    """The largest kind of event the product writes: one batch's `finding.ingested` event.

    One detector batch of 9,000 findings on one campaign lands in one case, and its audit
    event lists every finding and evidence item: about 3 MB of JSON in one field. Batches hold
    1,000 findings by default; an operator may raise COMPLIANCE_MAX_BATCH_ITEMS, and the
    verifier must read what such a batch writes.
    """
    from compliance.evidence.operations import ingest_findings
    from tests.findings import make_finding

    app.config["MAX_BATCH_ITEMS"] = 9000
    batch = [
        make_finding(
            external_id=f"bulk-{i:05d}",
            summary="Sweep \u2028 with separators\r\nand “quotes”, commas",
            attachments=[],
            sample_prompts=[],
        )
        for i in range(9000)
    ]
    ingest_findings(batch, operator, channel="cli")
    db.session.commit()
    size = db.session.scalar(
        select(func.max(func.length(AuditEvent.payload))).where(
            AuditEvent.action == "finding.ingested"
        )
    )
    assert size > 2_500_000
    return size


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_export_with_a_multi_megabyte_event_verifies_alone(
    megabyte_event, actor_for, tmp_path, fmt
):
    export = export_audit(actor_for("auditor"), fmt)
    db.session.commit()
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(export.content)
    alone = run_verifier(str(path), copy_to=tmp_path)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert f"OK {export.count} events verified" in alone.stdout
    # A change inside the big field is still caught.
    doctored = export.content.replace(b"bulk-04500", b"bulk-04501", 1)
    path.write_bytes(doctored)
    failed = run_verifier(str(path), copy_to=tmp_path)
    assert failed.returncode == 1 and "FAILED seq=" in failed.stdout


def test_the_pdf_report_verifies_with_the_standalone_verifier(history, actor_for, tmp_path):
    export = export_audit(actor_for("auditor"), "pdf")
    db.session.commit()
    path = tmp_path / "report.pdf"
    path.write_bytes(export.content)
    alone = run_verifier(str(path), copy_to=tmp_path)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert f"OK {export.count} events verified (contiguous chain)" in alone.stdout
    # Any other PDF is refused as unreadable, not passed.
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.7\n%%EOF\n")
    refused = run_verifier(str(other), copy_to=tmp_path)
    assert refused.returncode == 2 and "embeds no audit export" in refused.stderr
