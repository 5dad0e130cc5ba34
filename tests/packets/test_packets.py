"""Packets as counsel sends them: numbered, hashed, redacted, archived, verifiable."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.errors import InvalidInput, WorkflowRefused
from compliance.evidence.models import EvidenceItem
from compliance.extensions import db
from compliance.notices.operations import mark_sent
from compliance.packets import operations
from compliance.packets.models import BatesGap
from compliance.packets.operations import building
from compliance.packets.signing import pdfa_identification, verify_packet_file
from compliance.packets.tasks import build_packet
from tests.packets.conftest import (
    CUSTOMER_ACCOUNT,
    CUSTOMER_EMAIL_DOMAIN,
    PRIVILEGED,
    TAKEDOWN,
    attachments,
    build,
    build_final,
    pdf_text,
    referral_fields,
)


def _assert_bates(packet, data):
    stamps = [
        next(iter(reversed([w for w in text.split() if w.startswith("EVD-")])), None)
        for text in pdf_text(data)
    ]
    expected = [f"EVD-{n:07d}" for n in range(packet.bates_first, packet.bates_last + 1)]
    assert stamps == expected
    assert packet.page_count == len(stamps)


def test_final_takedown_and_referral(ready_case, app, tmp_path):
    """Bates on every page, continuous across packets; hashes; redaction; PDF/A; verify."""
    ready = ready_case()
    takedown, takedown_pdf = build_final(ready.case, ready.counsel, "takedown", TAKEDOWN)
    referral, referral_pdf = build_final(
        ready.case, ready.counsel, "referral", referral_fields(ready)
    )

    # Bates: every page stamped, continuous, matching the registry; the next packet follows on.
    _assert_bates(takedown, takedown_pdf)
    _assert_bates(referral, referral_pdf)
    assert takedown.bates_first == 1
    assert referral.bates_first == takedown.bates_last + 1

    # Archival format and embedded files.
    for data in (takedown_pdf, referral_pdf):
        assert pdfa_identification(data) == ("3", "B")
    take_files, ref_files = attachments(takedown_pdf), attachments(referral_pdf)
    assert set(take_files) == {"packet-manifest.json"}  # a public notice embeds no evidence
    assert set(ref_files) == {"packet-manifest.json", "clusters.csv"}

    # Exhibit hashes match the store, in the manifest and in the text.
    items = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == ready.case.id)
    ).all()
    record = next(i for i in items if i.role == "finding_record")
    manifest = json.loads(ref_files["packet-manifest.json"])
    assert manifest["packet_id"] == referral.id
    assert manifest["bates"] == {
        "prefix": "EVD",
        "first": referral.bates_first,
        "last": referral.bates_last,
    }
    assert [e["sha256"] for e in manifest["exhibits"]] == [record.sha256]
    from compliance.evidence.store import blob_store

    csv_item = next(i for i in items if i.name == "clusters.csv")
    assert blob_store().check(csv_item.sha256) == "ok"
    assert ref_files["clusters.csv"] == blob_store().get(csv_item.sha256)
    flat = "".join("".join(pdf_text(takedown_pdf)).split())
    assert record.sha256 in flat

    # Redaction: nothing privileged anywhere; no customer data in the public notice.
    take_text, ref_text = "\n".join(pdf_text(takedown_pdf)), "\n".join(pdf_text(referral_pdf))
    for text in (take_text, ref_text):
        assert "PRIVILEGED-STRATEGY" not in text
    assert CUSTOMER_ACCOUNT not in take_text and CUSTOMER_EMAIL_DOMAIN not in take_text
    assert CUSTOMER_ACCOUNT.encode() not in takedown_pdf
    assert CUSTOMER_ACCOUNT in ref_text  # the referral carries full indicators
    assert "2.3.1" not in take_text and "template_similarity" not in take_text.replace(" ", "_")
    assert "Acme Distill Labs" in take_text and "acme/distilled-coder-7b" in take_text

    # The hostile summary leaked nothing: no passwd content, no extra embedded file.
    for data in (takedown_pdf, referral_pdf):
        assert b"root:x:0:0" not in data and "root:" not in "".join(pdf_text(data))

    # The stored PDF verifies; one altered byte does not.
    from compliance.cli import main  # noqa: F401 - loads the command groups in order
    from compliance.packets.cli import packet_group

    runner = app.test_cli_runner()
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(takedown_pdf)
    outcome = runner.invoke(packet_group, ["verify", str(good)])
    assert outcome.exit_code == 0 and "packet verify OK" in outcome.output, outcome.output
    tampered = bytearray(takedown_pdf)
    index = tampered.index(b"Frontier Lab") if b"Frontier Lab" in tampered else len(tampered) // 2
    tampered[index] ^= 0x01
    bad.write_bytes(bytes(tampered))
    report = verify_packet_file(bytes(tampered))
    assert not report.ok and "SHA-256" in report.problems[0]
    outcome = runner.invoke(packet_group, ["verify", str(bad)])
    assert outcome.exit_code == 1 and "MISMATCH" in outcome.output

    # Identical recorded inputs give identical bytes (rebuild from the registry), unsigned.
    from dataclasses import replace

    from compliance.packets import render
    from compliance.packets.context import toc

    doc = operations.document_of(operations.gather(takedown))
    assert doc.inputs_sha256 == takedown.inputs_sha256
    context = {**doc.context, "toc": toc(doc.context), "document_created": doc.gathered.built_at}
    html = render.render_html("takedown", context)
    again = render.layout(
        html, bates=render.Bates("EVD", takedown.bates_first), created=doc.gathered.built_at
    ).write(operations.attachments_for(replace(doc)))
    assert again == takedown_pdf

    # Sending: the workflow moves to action_taken only once a final packet is marked sent.
    from compliance.cases.operations import transition_case

    with pytest.raises(WorkflowRefused):
        transition_case(ready.case, "action_taken", ready.counsel)
    db.session.rollback()
    mark_sent(
        takedown,
        ready.counsel,
        recipient="ModelHub Trust & Safety",
        channel="web_form",
        sent_on=datetime.now(UTC),
    )
    transition_case(ready.case, "action_taken", ready.counsel)
    db.session.commit()
    assert ready.case.state == "action_taken"
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"packet.requested", "packet.bates_reserved", "packet.stored", "packet.sent"} <= actions


def test_hostile_summary_never_reaches_html(ready_case):
    """The sanitiser strips file: images and attachment links before the renderer sees them;
    the internal case summary is printed in the memo only."""
    from dataclasses import replace

    from compliance.packets import render
    from compliance.packets.context import build_document, toc

    ready = ready_case(state="investigating")
    packet = operations.request_packet(ready.case, "memo", ready.counsel)
    g = operations.gather(packet)
    context = build_document(g)
    html = render.render_html(
        "memo", {**context, "toc": toc(context), "document_created": g.built_at}
    )
    assert "file:" not in html and 'rel="attachment"' not in html
    assert PRIVILEGED in html and "Summary with" in html  # the memo holds the internals
    for packet_type in ("takedown", "referral"):
        context = build_document(replace(g, packet_type=packet_type))
        html = render.render_html(
            packet_type, {**context, "toc": toc(context), "document_created": g.built_at}
        )
        assert PRIVILEGED not in html and "Summary with" not in html


def test_drafts_and_rules(ready_case):
    """Previews any time, watermarked, unnumbered, never sent; finals need approval and action."""
    ready = ready_case(state="investigating")
    with pytest.raises(WorkflowRefused, match="built from a preview"):
        operations.request_packet(ready.case, "takedown", ready.counsel, draft=False)
    with pytest.raises(Exception, match="may not packet.build"):
        operations.request_packet(ready.case, "memo", ready.analyst)
    packet, data = build(ready.case, ready.counsel, "takedown", TAKEDOWN)
    assert packet.bates_first is None and operations.counter_value("EVD") == 0
    texts = pdf_text(data)
    assert all("DRAFT" in text for text in texts)
    assert not any("EVD-" in text for text in texts)
    with pytest.raises(WorkflowRefused, match="draft"):
        mark_sent(packet, ready.counsel, recipient="x", channel="email", sent_on=datetime.now(UTC))
    with pytest.raises(WorkflowRefused, match="needs the case approved"):
        operations.request_final(packet, ready.counsel)


def test_final_rules_after_approval(ready_case):
    ready = ready_case(actions=("takedown",))
    preview, _pdf = build(ready.case, ready.counsel, "referral", referral_fields(ready))
    with pytest.raises(WorkflowRefused, match="not among the actions approved"):
        operations.request_final(preview, ready.counsel)
    preview, _pdf = build(ready.case, ready.counsel, "takedown", {"recipient": "x"})
    with pytest.raises(InvalidInput) as incomplete:
        operations.request_final(preview, ready.counsel)
    assert "offending_urls" in incomplete.value.details
    memo, _pdf = build(ready.case, ready.counsel, "memo")
    with pytest.raises(WorkflowRefused, match="draft"):  # a memo is only ever a draft
        mark_sent(memo, ready.counsel, recipient="x", channel="email", sent_on=datetime.now(UTC))
    final_memo = operations.request_final(memo, ready.counsel)  # for the file, Bates-numbered
    db.session.commit()
    final_memo = build_packet(final_memo.id).packet
    assert final_memo.status == "stored" and final_memo.bates_first
    with pytest.raises(WorkflowRefused, match="memo never leaves"):
        mark_sent(
            final_memo, ready.counsel, recipient="x", channel="email", sent_on=datetime.now(UTC)
        )


def test_crashing_build_is_failed_with_gap(ready_case, monkeypatch):
    """A build that dies after reserving its range is failed with why; the range is a gap."""
    ready = ready_case()
    preview, _pdf = build(ready.case, ready.counsel, "referral", referral_fields(ready))
    packet = operations.request_final(preview, ready.counsel)
    db.session.commit()

    def broken_store(pdf: bytes) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(building, "_store", broken_store)
    result = build_packet(packet.id)
    assert result.pdf is None
    packet = result.packet
    assert packet.status == "failed" and "disk full" in packet.failure_reason
    gap = db.session.scalar(select(BatesGap))
    assert (gap.first_number, gap.last_number) == (packet.bates_first, packet.bates_last)
    assert operations.counter_value("EVD") == packet.bates_last  # never handed out again
    assert operations.sent_packet_types(ready.case) == set()


def test_stale_rendering_is_failed(ready_case):
    from datetime import timedelta

    from compliance.packets.tasks import fail_stale_builds

    ready = ready_case(state="investigating")
    packet = operations.request_packet(ready.case, "memo", ready.counsel)
    packet.status = "rendering"
    packet.started_at = datetime.now(UTC) - timedelta(hours=2)
    db.session.commit()
    assert fail_stale_builds() == [packet.id]
    db.session.refresh(packet)
    assert packet.status == "failed" and "worker lost" in packet.failure_reason


def test_a_failed_build_is_told_in_words_and_retried_with_the_same_composition(
    ready_case, monkeypatch, app
):
    from compliance.auth.models import User
    from tests.conftest import AuthActions

    ready = ready_case()
    packet = operations.request_packet(
        ready.case, "referral", ready.counsel, fields=referral_fields(ready)
    )
    db.session.commit()

    def broken_store(pdf: bytes) -> str:
        raise RuntimeError("(sqlite3.OperationalError) no such table: evidence_blobs [SQL: INSERT]")

    monkeypatch.setattr(building, "_store", broken_store)
    failed = build_packet(packet.id).packet
    assert "no such table" in failed.failure_reason  # kept for the CLI and the audit trail
    monkeypatch.undo()

    client = app.test_client()
    AuthActions(client).login(db.session.get(User, ready.counsel.user_id))
    tab = client.get(f"/cases/{ready.case.ref}?tab=packets").get_data(as_text=True)
    assert "unexpected error on our side" in tab and f"under packet {failed.id}" in tab
    assert "sqlite3" not in tab and "SQL" not in tab
    assert "Retry the build" in tab

    response = client.post(f"/cases/{ready.case.ref}/packets/{failed.id}/retry")
    assert response.status_code == 302
    again = db.session.scalar(select(operations.Packet).where(operations.Packet.id > failed.id))
    assert again.status == "queued" and again.draft
    assert again.request_fields == failed.request_fields
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "packet.requested", AuditEvent.object_id == str(again.id)
        )
    )
    assert event.details["retry_of"] == failed.id
    # Only a failed build is retried.
    assert build_packet(again.id).packet.status == "stored"
    with pytest.raises(WorkflowRefused, match="did not fail"):
        operations.retry_packet(again, ready.counsel)


def test_a_failed_final_is_retried_from_its_preview(ready_case, monkeypatch):
    ready = ready_case()
    preview, _pdf = build(ready.case, ready.counsel, "referral", referral_fields(ready))
    final = operations.request_final(preview, ready.counsel)
    db.session.commit()
    monkeypatch.setattr(building, "_store", lambda pdf: (_ for _ in ()).throw(OSError("full")))
    failed = build_packet(final.id).packet
    monkeypatch.undo()
    assert failed.status == "failed" and "unexpected error" in failed.failure_in_words
    again = operations.retry_packet(failed, ready.counsel)
    db.session.commit()
    assert not again.draft and again.preview_id == preview.id
    assert build_packet(again.id).packet.status == "stored"
