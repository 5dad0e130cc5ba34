"""In a real browser: open a case, move it along, meet a guard, see the trail."""

from __future__ import annotations

from tests.e2e.conftest import shot, sign_in


def test_analyst_opens_and_moves_a_case_counsel_holds_it(new_page, make_user):
    analyst = make_user("analyst", name="Alex Rivera")
    counsel = make_user("counsel", name="Casey Lindqvist")
    page = new_page()
    sign_in(page, analyst)
    shot(page, "dashboard-analyst")

    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Title").fill("Coding sweep through 212 rotated accounts")
    page.get_by_label("Summary (Markdown)").fill("**212 accounts** sent templated prompts.")
    page.get_by_label("Severity").select_option("high")
    page.get_by_role("button", name="Open case").click()
    page.get_by_text("opened.").wait_for()
    shot(page, "case-page")
    ref = page.locator(".ref").inner_text()

    page.get_by_text("Start triage", exact=True).click()
    page.get_by_role("button", name="Confirm: start triage").click()
    page.get_by_text("moved from reported to triage").wait_for()
    # The next move is offered but blocked, and says why.
    assert "needs an owner" in page.locator(".option.blocked").inner_text()

    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("Owner").select_option(label=f"{analyst.name} (analyst)")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Start investigation", exact=True).click()
    page.get_by_role("button", name="Confirm: start investigation").click()
    page.get_by_text("moved from triage to investigating").wait_for()
    assert "needs a linked clause" in page.locator(".option.blocked").inner_text()
    # Analysts cannot dismiss: the button is not there at all.
    assert page.get_by_text("Dismiss", exact=True).count() == 0

    counsel_page = new_page()
    sign_in(counsel_page, counsel)
    counsel_page.goto(f"/cases/{ref}")
    counsel_page.get_by_label("Reason for a legal hold").fill("Litigation anticipated")
    counsel_page.once("dialog", lambda dialog: dialog.accept())
    counsel_page.get_by_role("button", name="Place legal hold").click()
    counsel_page.get_by_text("Legal hold placed.").wait_for()
    counsel_page.goto(f"/cases/{ref}?tab=audit")
    trail = counsel_page.locator("table.audit").inner_text()
    for action in ("case.created", "case.transition", "case.updated", "hold.placed"):
        assert action in trail
    shot(counsel_page, "case-audit")


def test_narrow_window_still_reads(new_page, make_user, make_case):
    analyst = make_user("analyst")
    case = make_case(title="Narrow window check")
    page = new_page(width=760, height=900)
    sign_in(page, analyst)
    page.goto(f"/cases/{case.ref}")
    assert page.get_by_role("heading", name="Narrow window check").is_visible()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 760
    shot(page, "case-page-narrow")


def test_a_refused_move_is_flashed_on_the_case_page_and_nothing_changes(new_page, make_user):
    """The one transaction rule: a refused form post is rolled back, flashed, sent back."""
    analyst = make_user("analyst", name="Alex Rivera")
    counsel = make_user("counsel", name="Casey Lindqvist")
    page = new_page()
    sign_in(page, analyst)
    page.goto("/cases/new")
    page.get_by_label("Title").fill("Reasoning traces harvested by a reseller")
    page.get_by_role("button", name="Open case").click()
    page.get_by_text("opened.").wait_for()
    ref = page.locator(".ref").inner_text()

    # Counsel has the case open; meanwhile the analyst moves it on.
    counsel_page = new_page()
    sign_in(counsel_page, counsel)
    counsel_page.goto(f"/cases/{ref}")
    page.get_by_text("Start triage", exact=True).click()
    page.get_by_role("button", name="Confirm: start triage").click()
    page.get_by_text("moved from reported to triage").wait_for()

    # Counsel's page is stale: the move is refused, said on the page it came from.
    counsel_page.get_by_text("Start triage", exact=True).click()
    counsel_page.get_by_role("button", name="Confirm: start triage").click()
    counsel_page.locator(".flash").first.wait_for()
    assert counsel_page.url.endswith(f"/cases/{ref}")
    assert "changed by someone else" in counsel_page.locator("main").inner_text()
    shot(counsel_page, "case-refused-move")
    counsel_page.goto(f"/cases/{ref}?tab=audit")
    trail = counsel_page.locator("table.audit").inner_text()
    assert trail.count("case.transition") == 1  # the refused move left nothing behind
