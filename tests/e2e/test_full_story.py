"""The whole life of a case, in Chromium, as the users live it.

A detector's finding opens a case; an analyst triages and investigates it, attaches a file,
cites a clause and sends it to legal review; counsel approves (the analyst cannot), builds a
takedown packet, downloads it and records it as sent; the case goes to monitoring; an auditor
exports the audit trail and the export verifies on its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.auth.operations import create_token
from compliance.extensions import db
from compliance.packets.tasks import build_queued_packets
from compliance.policies.operations import sync_policies
from tests.e2e.conftest import shot, sign_in

FINDING = {
    "schema": "distillation-finding/v1",
    "detector": {"name": "query-fingerprint", "version": "2.3.1"},
    "external_id": "qf-e2e-0001",
    "kind": "query_fingerprint",
    "observed_from": "2026-10-01T00:00:00Z",
    "observed_to": "2026-10-18T23:59:59Z",
    "confidence": 0.93,
    "severity": "high",
    "subjects": [{"type": "account", "id": "acct_e2e_81f2c0"}],
    "metrics": {"requests": 1840023, "accounts": 212},
    "summary": "212 accounts sent 1.84M prompts from 14 templates sweeping coding and maths.",
}


def _post_finding(live_server: str, token: str) -> dict:
    request = urllib.request.Request(  # noqa: S310 (the in-process server on loopback)
        f"{live_server}/api/v1/findings",
        data=json.dumps(FINDING).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback http)
        assert response.status == 201
        return json.loads(response.read())


def _confirm(page, label: str) -> None:
    page.get_by_text(label, exact=True).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Confirm: {label.lower()}").click()


def test_from_finding_to_monitoring_and_an_audit_export(
    app, live_server, new_page, make_user, tmp_path
):
    operator = Actor.cli_operator()
    sync_policies(operator, PROJECT_ROOT / "policies")
    _, token = create_token(operator, "query-fingerprint detector", ["ingest"])
    db.session.commit()
    analyst = make_user("analyst", name="Alex Rivera")
    counsel = make_user("counsel", name="Casey Lindqvist")
    auditor = make_user("auditor", name="Ari Novak")

    result = _post_finding(live_server, token)["results"][0]
    ref = result["case_ref"]
    assert result["status"] == "created"

    # The analyst sees the new case on the dashboard and works it.
    page = new_page()
    sign_in(page, analyst)
    assert ref in page.locator("main").inner_text()
    page.get_by_role("link", name=ref).first.click()
    _confirm(page, "Start triage")
    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("Owner").select_option(label=f"{analyst.name} (analyst)")
    page.get_by_label("Summary (Markdown)").fill(
        "Templated prompts across **212 accounts** harvesting step-by-step answers."
    )
    page.get_by_role("button", name="Save changes").click()
    _confirm(page, "Start investigation")
    page.get_by_text("moved from triage to investigating").wait_for()

    page.get_by_role("link", name="Evidence").click()
    page.locator("details.upload-disclosure > summary", has_text="Add evidence").click()
    attachment = tmp_path / "cluster-listing.csv"
    attachment.write_text("account,template,requests\nacct_e2e_81f2c0,T07,88211\n")
    page.locator("#file").set_input_files(str(attachment))
    page.locator("#description").fill("Cluster listing exported from the fingerprint console")
    page.get_by_role("button", name="Preserve evidence").click()
    assert "cluster-listing.csv" in page.locator("main").inner_text()
    shot(page, "case-evidence")

    page.get_by_role("link", name="Clauses").click()
    page.get_by_label("Clause", exact=True).select_option(index=1)
    page.get_by_label("How the conduct breaks this clause").fill(
        "Outputs harvested at scale through rotated accounts to train a competing model."
    )
    page.get_by_role("button", name="Cite clause").click()
    assert "§" in page.locator("main").inner_text()
    shot(page, "case-clauses")

    _confirm(page, "Send to legal review")
    page.get_by_text("moved from investigating to legal_review").wait_for()
    # The analyst has no approve button, and a forged approval is refused.
    assert page.get_by_text("Approve", exact=True).count() == 0
    forged = page.request.post(f"/cases/{ref}/transition", form={"target": "approved"})
    assert forged.status in (400, 403)

    # Counsel approves and builds the takedown packet.
    lawyer = new_page()
    sign_in(lawyer, counsel)
    assert ref in lawyer.locator("main").inner_text()  # waiting for my approval
    shot(lawyer, "dashboard-counsel")
    lawyer.goto(f"/cases/{ref}")
    lawyer.get_by_text("Approve", exact=True).click()
    lawyer.get_by_label("Takedown notice").check()
    lawyer.once("dialog", lambda dialog: dialog.accept())
    lawyer.get_by_role("button", name="Confirm: approve").click()
    lawyer.get_by_text("moved from legal_review to approved").wait_for()

    # Counsel's signatory profile: what is printed where they sign.
    lawyer.get_by_role("link", name=counsel.name).click()
    lawyer.get_by_label("Title").fill("Senior Counsel, Platform Enforcement")
    lawyer.get_by_label("Organisation").fill("Meridian AI")
    lawyer.get_by_label("Postal address").fill("500 Howard Street\nSan Francisco, CA 94105")
    lawyer.get_by_label("Telephone").fill("+1 415 555 0142")
    lawyer.get_by_role("button", name="Save").click()
    lawyer.get_by_text("Signatory profile saved.").wait_for()

    # Compose, preview, check the review, then build the final packet from the preview.
    lawyer.goto(f"/cases/{ref}?tab=packets")
    lawyer.get_by_role("link", name="Compose a packet").click()
    lawyer.get_by_role("link", name="Terms-of-service complaint").click()
    lawyer.get_by_label("Recipient", exact=True).fill("ModelHub Trust & Safety")
    lawyer.get_by_label("Offending URLs (https://…, one per line)").fill(
        "https://models.example/quantum/reasoner-7b"
    )
    lawyer.get_by_label("Remedy sought").fill("Remove the model and its weights.")
    lawyer.get_by_role("button", name="Build the preview").click()
    assert "queued" in lawyer.locator("main").inner_text()
    built = build_queued_packets()  # the scheduler's worker, run here
    db.session.commit()
    assert [(r.packet.status, r.packet.draft) for r in built] == [("stored", True)]
    lawyer.reload()
    assert "Redaction review" in lawyer.locator("main").inner_text()
    shot(lawyer, "packet-preview")
    lawyer.once("dialog", lambda dialog: dialog.accept())
    lawyer.get_by_role("button", name="Build the final packet").click()
    built = build_queued_packets()
    db.session.commit()
    assert [(r.packet.status, r.packet.draft) for r in built] == [("stored", False)]
    lawyer.goto(f"/cases/{ref}?tab=packets")
    shot(lawyer, "case-packets")
    with lawyer.expect_download() as download:
        lawyer.get_by_role("link", name="Download").first.click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"DRAFT" not in pdf[:2000]
    lawyer.get_by_role("link", name="Record as sent…").click()
    lawyer.get_by_label("…or a one-off recipient (free text)").fill("ModelHub Trust & Safety")
    lawyer.once("dialog", lambda dialog: dialog.accept())
    lawyer.get_by_role("button", name="Record as sent").click()
    lawyer.get_by_text("Record acknowledgment", exact=True).wait_for()  # the notice's page
    lawyer.goto(f"/cases/{ref}")
    _confirm(lawyer, "Record action taken")
    lawyer.get_by_text("moved from approved to action_taken").wait_for()

    # Back to the analyst: monitoring.
    page.goto(f"/cases/{ref}")
    page.get_by_text("Start monitoring", exact=True).click()
    page.get_by_role("button", name="Confirm: start monitoring").click()
    page.get_by_text("moved from action_taken to monitoring").wait_for()

    # The auditor exports the trail; it verifies with the standalone verifier.
    auditing = new_page()
    sign_in(auditing, auditor)
    auditing.goto("/audit/")
    shot(auditing, "audit-view")
    auditing.locator("#ex-format").select_option("json")
    with auditing.expect_download() as download:
        auditing.get_by_role("button", name="Download export").click()
    export = tmp_path / "export.json"
    export.write_bytes(Path(download.value.path()).read_bytes())
    verified = subprocess.run(
        [sys.executable, "-m", "compliance.audit.verify_export", str(export)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
