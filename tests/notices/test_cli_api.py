"""A notice through every state from the CLI, the directory from the CLI, the read API, and the
pages a person uses (send with proof, a step, the case tab)."""

from __future__ import annotations

import io
import json

from compliance.auth.operations import create_token
from compliance.db import utcnow
from compliance.extensions import db
from compliance.notices.models import Notice, Recipient
from tests.notices.conftest import PLATFORM
from tests.security.helpers import run_cli


def test_the_cli_walks_a_notice_through_its_states(app, stored_packet, send, make_user, tmp_path):
    notice = send(stored_packet(), recipient="Modelhaven")
    analyst, counsel = make_user("analyst"), make_user("counsel")
    answer = tmp_path / "counter-notice.pdf"
    answer.write_bytes(b"%PDF-1.4 counter-notice")

    def cli(*args: str) -> tuple[int, str]:
        result = run_cli(app, "notice", *args)
        return result.exit_code, result.output

    code, out = cli("ack", str(notice.id), "--their-ref", "MH-77", "--as", analyst.email)
    assert code == 0 and "acknowledged" in out
    code, out = cli("withdraw", str(notice.id), "--reason", "x", "--as", analyst.email)
    assert code == 1 and "may not" in out  # withdrawing is counsel's
    code, out = cli("restore", str(notice.id))
    assert code == 1 and "cannot become restored" in out
    code, out = cli("resolve", str(notice.id), "--outcome", "gone")
    assert code == 2
    code, out = cli("counter-notice", str(notice.id), "--on", "2020-01-01", "--as", counsel.email)
    assert code == 2 and "before the notice was sent" in out
    code, out = cli(
        "counter-notice",
        str(notice.id),
        "--on",
        notice.sent_at.date().isoformat(),
        "--response",
        str(answer),
        "--as",
        counsel.email,
        "--json",
    )
    assert code == 0, out
    body = json.loads(out)
    assert body["state"] == "counter_notice_received" and body["their_reference"] == "MH-77"
    assert body["events"][-1]["evidence_sha256"]
    code, out = cli("suit-filed", str(notice.id), "--reason", "N.D. Cal. 5:26-cv-0001")
    assert code == 0 and "suit_filed" in out
    code, out = cli("identifiers", str(notice.id), "--set", "model_name=acme/mirror-7b", "--json")
    assert code == 0 and json.loads(out)["identifiers"] == [
        {"kind": "model_name", "value": "acme/mirror-7b"}
    ]
    assert cli("identifiers", str(notice.id), "--set", "colour=red")[0] == 2
    code, out = cli("list", "--state", "suit_filed", "--json")
    assert code == 0 and [n["id"] for n in json.loads(out)["items"]] == [notice.id]
    code, out = cli("show", str(notice.id))
    assert code == 0 and "counter_notice_received" in out and "suit_filed" in out
    assert cli("show", "999999")[0] == 2


def test_the_cli_maintains_the_directory(app, make_user):
    analyst = make_user("analyst")
    args = ["--name", PLATFORM["name"], "--kind", "hosting_platform", "--jurisdiction", "nl"]
    args += ["--email", PLATFORM["email"], "--basis", "copyright", "--basis", "dsa"]
    result = run_cli(app, "recipient", "add", *args, "--as", analyst.email)
    assert result.exit_code == 1  # admins and counsel maintain it
    result = run_cli(app, "recipient", "add", *args, "--json")
    assert result.exit_code == 0, result.output
    added = json.loads(result.output)
    assert added["jurisdiction"] == "NL" and added["accepted_bases"] == ["copyright", "dsa"]
    result = run_cli(app, "recipient", "edit", PLATFORM["name"], "--community", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["in_sharing_community"] is True
    assert run_cli(app, "recipient", "edit", str(added["id"])).exit_code == 2
    assert run_cli(app, "recipient", "edit", "9999", "--notes", "x").exit_code == 2
    result = run_cli(app, "recipient", "add", *args)
    assert result.exit_code == 2 and "already in the directory" in result.output
    result = run_cli(app, "recipient", "list")
    assert result.exit_code == 0 and "community" in result.output


def test_the_read_api_lists_and_shows_notices(app, stored_packet, send, operator, login_as):
    notice = send(stored_packet(), recipient="Modelhaven")
    _, raw = create_token(operator, "a script", ["read"])
    _, ingest_only = create_token(operator, "a detector", ["ingest"])
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    listed = client.get("/api/v1/notices?state=sent", headers=headers)
    assert listed.status_code == 200
    assert [n["id"] for n in listed.json["items"]] == [notice.id] and listed.json["total"] == 1
    shown = client.get(f"/api/v1/notices/{notice.id}", headers=headers)
    assert shown.status_code == 200 and shown.json["events"][0]["kind"] == "sent"
    assert shown.json["identifiers"]
    assert client.get("/api/v1/notices/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/notices?state=nope", headers=headers).status_code == 422
    denied = client.get("/api/v1/notices", headers={"Authorization": f"Bearer {ingest_only}"})
    assert denied.status_code == 403
    assert app.test_client().get("/api/v1/notices").status_code == 401


def test_counsel_sends_from_its_own_page_with_proof_and_steps_the_notice(
    app, stored_packet, login_as
):
    user, client = login_as("counsel")
    packet = stored_packet()
    page = client.get(f"/cases/{packet.case.ref}/packets/{packet.id}/send")
    assert page.status_code == 200 and b"Proof of sending" in page.data
    client.post(
        "/recipients/new",
        data={
            "name": "Modelhaven",
            "kind": "hosting_platform",
            "jurisdiction": "NL",
            "email": "n@modelhaven.example",
            "response_days": "5",
            "accepted_bases": ["copyright"],
            "active": "y",
        },
    )
    recipient = db.session.scalar(db.select(Recipient))
    assert recipient is not None and recipient.accepted_bases == ["copyright"]
    response = client.post(
        f"/cases/{packet.case.ref}/packets/{packet.id}/send",
        data={
            "recipient_id": str(recipient.id),
            "recipient": "",
            "channel": "web_form",
            "sent_on": utcnow().date().isoformat(),
            "their_reference": "MH-77",
            "proof": (io.BytesIO(b"receipt bytes"), "receipt.html"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, [
        line for line in response.data.decode().splitlines() if "error" in line
    ]
    notice = db.session.scalar(db.select(Notice))
    assert notice.recipient_id == recipient.id and notice.proof.name == "receipt.html"
    assert response.location.endswith(f"/notices/{notice.id}")
    page = client.get(f"/notices/{notice.id}")
    assert page.status_code == 200 and b"Record acknowledgment" in page.data
    client.post(f"/notices/{notice.id}/step", data={"target": "acknowledged", "note": "ticket"})
    db.session.refresh(notice)
    assert notice.state == "acknowledged"
    tab = client.get(f"/cases/{packet.case.ref}?tab=notices")
    assert tab.status_code == 200 and notice.our_reference.encode() in tab.data
    assert client.get("/recipients/").status_code == 200
    assert client.get("/notices/").status_code == 200


def test_a_referral_request_is_answered_from_its_page_with_a_supplemental_packet(
    app, stored_packet, send, login_as
):
    _, client = login_as("counsel")
    packet = stored_packet("referral", recipient="Northwind Cyber Crime Unit (fictional)")
    notice = send(packet, recipient="Northwind Cyber Crime Unit (fictional)")
    client.post(
        f"/notices/{notice.id}/referral",
        data={
            "agency_case_number": "NCCU-2026-0193",
            "assigned_agent": "Agent R. Example",
            "referral_status": "assigned",
        },
    )
    client.post(
        f"/notices/{notice.id}/requests",
        data={"received_on": utcnow().date().isoformat(), "request": "Server logs, please"},
    )
    db.session.refresh(notice)
    assert (notice.agency_case_number, notice.referral_status) == (
        "NCCU-2026-0193",
        "information_requested",
    )
    page = client.get(f"/notices/{notice.id}").data.decode()
    assert "Server logs, please" in page
    compose = f"/cases/{packet.case.ref}/packets/new?type=referral&amp;from={packet.id}"
    assert compose in page  # a new referral composed from the one sent, on the same case
    form = client.get(compose.replace("&amp;", "&"))
    assert form.status_code == 200 and b"Northwind Cyber Crime Unit" in form.data
    supplemental = stored_packet("referral", case=packet.case)
    send(supplemental, recipient="Northwind Cyber Crime Unit (fictional)")
    request_id = notice.information_requests[0].id
    client.post(
        f"/notices/{notice.id}/requests/{request_id}/answer",
        data={"packet_id": str(supplemental.id)},
    )
    db.session.refresh(notice)
    assert notice.information_requests[0].answer_packet_id == supplemental.id
    assert notice.referral_status == "under_investigation"
