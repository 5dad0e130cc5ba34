"""After sending, in the browser: the dashboard lists notices by next deadline, a counter-notice
shows its restoration window in business days, a re-upload is flagged on the notice and a
follow-up notice citing it is composed; an analyst checks an identifier."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from compliance.actor import Actor
from compliance.db import utcnow
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db
from compliance.notices.operations import transition_notice
from compliance.notices.tracking import RepeatFlag
from tests.e2e.conftest import shot, sign_in
from tests.notices.followup import REPOSITORY, make_recipient, send_notice
from tests.notices.test_watch import WEIGHTS_SHA256, reupload_finding


def test_deadlines_reuploads_and_the_follow_up_in_the_browser(
    app, new_page, make_case, make_user, operator
):
    counsel_user, analyst_user = make_user("counsel"), make_user("analyst")
    counsel = Actor.for_user(counsel_user)
    recipient = make_recipient(counsel)
    case = make_case(title="Nimbus 7B distilled from our outputs", summary="Canary hits")
    now = utcnow()
    disputed = send_notice(case, counsel, recipient, sent_on=now - timedelta(days=9))
    transition_notice(
        disputed, counsel, "resolved", outcome="removed", occurred_at=now - timedelta(days=8)
    )
    transition_notice(
        disputed, counsel, "counter_notice_received", occurred_at=(now - timedelta(days=3)).date()
    )
    taken = send_notice(
        case, counsel, recipient, files=[WEIGHTS_SHA256], sent_on=now - timedelta(days=20)
    )
    transition_notice(
        taken, counsel, "resolved", outcome="removed", occurred_at=now - timedelta(days=15)
    )
    db.session.commit()
    ingest_findings(reupload_finding(), operator)
    db.session.commit()
    disputed_id, taken_id, taken_ref = disputed.id, taken.id, taken.our_reference
    case_ref = case.ref
    seen_ref = db.session.scalar(select(RepeatFlag.seen_case_id).limit(1))
    seen_ref = db.session.get(type(case), seen_ref).ref

    page = new_page()
    sign_in(page, counsel_user)
    board = page.get_by_role("region", name="Notices by next deadline")
    assert (
        "Restoration window opens" in board.inner_text()
        or "restoration window" in board.inner_text()
    )
    shot(page, "notices-dashboard")

    page.goto(f"/notices/{disputed_id}")
    deadlines = page.get_by_role("region", name="Deadlines")
    text = deadlines.inner_text()
    assert "Restoration window opens" in text and "Restoration window closes" in text
    assert "business days left" in text
    shot(page, "notice-counter-notice-deadlines")

    page.goto(f"/notices/{taken_id}")
    repeats = page.get_by_role("region", name="Re-uploads")
    assert WEIGHTS_SHA256 in repeats.inner_text()
    shot(page, "notice-reupload-flag")
    repeats.get_by_role("link", name=f"Compose a follow-up notice citing {taken_ref}").click()
    page.wait_for_url("**/packets/new**")
    narrative = page.get_by_label("Narrative").input_value()
    assert narrative.startswith(f"This notice follows our notice {taken_ref}")
    shot(page, "notice-follow-up-compose")

    page.goto(f"/notices/{taken_id}")
    repeats = page.get_by_role("region", name="Re-uploads")
    repeats.get_by_text("Close the flag", exact=True).click()
    repeats.get_by_label("Outcome").select_option("followed_up")
    repeats.get_by_role("button", name="Confirm: close the flag").click()
    page.wait_for_url(f"**/notices/{taken_id}")
    assert (
        "followed up"
        in page.locator(".flash, .flashes, [role=status], main").first.inner_text().lower()
    )

    page.goto(f"/cases/{seen_ref}?tab=notices")
    assert taken_ref in page.get_by_role("region", name="Re-uploads").inner_text()
    page.goto(f"/cases/{case_ref}?tab=notices")
    assert "Restoration window opens" in page.locator("table.notices").inner_text()
    shot(page, "case-notices-tab-deadlines")

    analyst = new_page(390, 844)
    sign_in(analyst, analyst_user)
    analyst.goto("/notices/check")
    analyst.get_by_label("Kind").select_option("repository")
    analyst.get_by_label("Identifier").fill(REPOSITORY.upper())
    analyst.get_by_role("button", name="Check").click()
    result = analyst.get_by_role("region", name="Result")
    # Both notices targeted the repository: the disputed one's material is down too.
    assert "Re-upload: 2 earlier notices" in result.inner_text()
    assert "Flagged as a repeat on 2 notices" in result.inner_text()
    assert analyst.evaluate("document.documentElement.scrollWidth <= innerWidth")
    shot(analyst, "notice-check-identifier-phone")
