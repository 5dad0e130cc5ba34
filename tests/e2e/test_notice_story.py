"""After sending, in Chromium: counsel records a final takedown as sent to a directory
recipient with the web form's receipt as proof; the platform acknowledges, the uploader files
a counter-notice, the platform restores the model; the case's Notices tab shows it all."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from compliance.actor import Actor
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.evidence.store import blob_store
from compliance.extensions import db
from compliance.notices.models import Notice
from compliance.notices.operations import create_recipient
from compliance.packets.operations import request_packet
from tests.e2e.conftest import shot, sign_in


def _final_packet(case: Case, counsel: Actor, recipient_id: int):
    """A final takedown as a build leaves it (stored): the render has its own tests."""
    packet = request_packet(
        case, "takedown", counsel, fields={"basis": "terms", "recipient_id": recipient_id}
    )
    data = b"%PDF-1.7 stand-in for the rendered takedown"
    packet.sha256, _created = blob_store().put(data)
    packet.draft, packet.status, packet.size_bytes = False, "stored", len(data)
    packet.built_at = utcnow() - timedelta(days=1)
    packet.bates_prefix, packet.bates_first, packet.bates_last = "EVD", 101, 104
    packet.request_fields = packet.request_fields | {
        "offending_urls": ["https://modelhaven.example/acme/distilled-7b"],
        "repository": "acme/distilled-7b",
    }
    db.session.commit()
    return packet


def test_sent_acknowledged_counter_notice_restored(
    app, live_server, new_page, make_user, make_case, tmp_path
):
    lawyer_user = make_user("counsel", name="Casey Lindqvist")
    counsel = Actor.for_user(lawyer_user)
    host = create_recipient(
        counsel,
        {
            "name": "Modelhaven Hosting B.V.",
            "kind": "hosting_platform",
            "jurisdiction": "NL",
            "email": "copyright@modelhaven.example",
            "agent_name": "Modelhaven Legal Desk",
            "agent_registration": "DMCA-1000001",
            "accepted_bases": ["copyright", "dsa"],
            "response_days": 5,
        },
    )
    case = make_case(summary="A distilled model reproduces our canary passage.")
    case.state, case.chosen_actions = "approved", ["takedown"]
    db.session.commit()
    packet = _final_packet(case, counsel, host.id)
    ref, packet_id = case.ref, packet.id

    lawyer = new_page()
    sign_in(lawyer, lawyer_user)
    lawyer.goto(f"/cases/{ref}?tab=packets")
    lawyer.get_by_role("link", name="Record as sent…").click()
    lawyer.wait_for_url(f"**/packets/{packet_id}/send")
    assert lawyer.get_by_label("Recipient (directory)").input_value() == str(host.id)
    lawyer.get_by_label("Channel").select_option("web_form")
    lawyer.get_by_label("Their ticket or reference").fill("MH-4471")
    receipt = tmp_path / "modelhaven-receipt.eml"
    receipt.write_text("Subject: We received your notice (ticket MH-4471)\n\nThank you.\n")
    lawyer.get_by_label("Proof of sending").set_input_files(str(receipt))
    shot(lawyer, "notice-send")
    lawyer.once("dialog", lambda dialog: dialog.accept())
    lawyer.get_by_role("button", name="Record as sent").click()
    lawyer.wait_for_url("**/notices/*")
    lawyer.get_by_text("recorded as sent to Modelhaven Hosting B.V.").wait_for()
    db.session.rollback()  # end this thread's read snapshot: the server wrote meanwhile
    notice = db.session.scalar(select(Notice).where(Notice.packet_id == packet_id))
    assert notice.proof is not None and notice.proof.name == "modelhaven-receipt.eml"
    assert notice.their_reference == "MH-4471"

    lawyer.get_by_text("Record acknowledgment", exact=True).click()
    lawyer.get_by_role("button", name="Confirm: record acknowledgment").click()
    lawyer.get_by_text("is now acknowledged").wait_for()

    lawyer.get_by_text("Record counter-notice", exact=True).click()
    form = lawyer.locator(
        "form", has=lawyer.get_by_role("button", name="Confirm: record counter-notice")
    )
    form.get_by_label("Note").fill("The uploader says the weights were trained independently.")
    counter = tmp_path / "counter-notice.txt"
    counter.write_text("Counter-notice under 17 U.S.C. 512(g)(3) ...")
    form.get_by_label("Their answer (stored as evidence)").set_input_files(str(counter))
    form.get_by_role("button", name="Confirm: record counter-notice").click()
    lawyer.get_by_text("is now counter-notice received").wait_for()
    shot(lawyer, "notice-counter-notice")

    lawyer.get_by_text("Record restoration", exact=True).click()
    lawyer.get_by_role("button", name="Confirm: record restoration").click()
    lawyer.get_by_text("is now restored").wait_for()
    shot(lawyer, "notice-restored")
    notice_id = notice.id
    db.session.rollback()
    notice = db.session.get(Notice, notice_id)
    assert [e.kind for e in notice.events] == [
        "sent",
        "acknowledged",
        "counter_notice_received",
        "restored",
    ]
    assert notice.counter_notice_received_on is not None
    assert notice.events[2].evidence_item.name == "counter-notice.txt"
    assert ("model_name", "acme/distilled-7b") in {(i.kind, i.value) for i in notice.identifiers}

    lawyer.goto(f"/cases/{ref}?tab=notices")
    lawyer.get_by_role("link", name=notice.our_reference).wait_for()
    shot(lawyer, "case-notices-tab")
    lawyer.goto("/recipients/")
    shot(lawyer, "recipients-directory")

    # On a phone the notice's page (with its 64-digit hashes) still fits the screen.
    phone = new_page(width=390, height=844)
    sign_in(phone, lawyer_user)
    phone.goto(f"/notices/{notice_id}")
    phone.get_by_role("heading", name=f"Notice {notice.our_reference}").wait_for()
    shot(phone, "notice-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
