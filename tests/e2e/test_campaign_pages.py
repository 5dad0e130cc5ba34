"""A campaign-sized case in the browser: its Evidence, Intel and Audit tabs, the audit trail
and the global search, at a desktop and a phone width, without sideways scrolling."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.actor import Actor
from compliance.cases import operations
from compliance.extensions import db
from tests.e2e.conftest import shot, sign_in
from tests.scale import grow_case

WIDTHS = ((1440, 900), (390, 844))
TAB = "section.tab-body"
# px: a campaign case's Evidence and Intel tabs, their lists folded or paged (the issue saw
# 12,543 px for 218 subjects at 1440 px)
MAX_TAB_HEIGHT = {1440: 4500, 390: 7000}


def _fits(page: Any, scope: str = "main") -> tuple[int, int, int, list[str]]:
    """The content's width (widest right edge in <main>), the viewport's, the page height, and
    the outermost elements of <main> sticking out. The top bar and the case's workflow panel
    are the responsive layout's own test (the browser walk); this one checks what this page
    lists: `scope` is the part of the page checked."""
    return page.evaluate(
        """(scope) => {
          const wide = [];
          let right = 0;
          const scrolls = (el) => {
            for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
              const overflow = getComputedStyle(up).overflowX;
              if (["auto", "scroll", "hidden"].includes(overflow)) return true;
            }
            return false;
          };
          for (const el of document.querySelectorAll(`${scope} *`)) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 || scrolls(el)) continue;  // hidden, or scrolls in its card
            right = Math.max(right, Math.round(box.right + window.scrollX));
            if (box.right > window.innerWidth + 1 && !wide.some((w) => w.el.contains(el))) {
              const html = el.outerHTML.slice(0, 90);
              wide.push({el, text: `${Math.round(box.right)}px ${html}`});
            }
          }
          return [right, window.innerWidth,
                  document.documentElement.scrollHeight, wide.slice(0, 5).map((w) => w.text)];
        }""",
        scope,
    )


@pytest.fixture
def campaign(app: Any, make_user: Any) -> tuple[Any, str]:
    counsel = make_user("counsel", name="Casey Lindqvist")
    case = operations.create_case(
        Actor.for_user(counsel), title="Campaign harvesting coding answers"
    )
    db.session.commit()
    ref = case.ref
    operations.add_note(case, Actor.for_user(counsel), "Subjects reviewed; the api keys rotate.")
    operations.update_case(case, Actor.for_user(counsel), {"owner_id": counsel.id})
    db.session.commit()
    grow_case(ref)
    return counsel, ref


def test_campaign_case_tabs_fit_and_scale(new_page: Any, campaign: tuple[Any, str]) -> None:
    counsel, ref = campaign
    for width, height in WIDTHS:
        page = new_page(width, height)
        sign_in(page, counsel)

        page.goto(f"/cases/{ref}?tab=evidence")
        summary = page.get_by_label("Evidence summary")
        assert "1,000 findings" in summary.inner_text()
        assert "10,000 subjects" in summary.inner_text()
        scroll_width, inner, tall, wide = _fits(page, TAB)
        shot(page, f"campaign-evidence-{width}")
        assert scroll_width <= inner, f"evidence tab {scroll_width}px wide at {width}: {wide}"
        assert tall <= MAX_TAB_HEIGHT[width], f"evidence tab {tall}px tall at {width}"
        upload = page.locator("details.upload-disclosure")
        assert not page.locator("#file").is_visible()
        upload.locator("summary").click()
        assert page.locator("#file").is_visible()
        shot(page, f"campaign-evidence-upload-open-{width}")
        page.get_by_role("link", name="api key").first.click()
        page.wait_for_url("**subject_type=api_key**")
        assert "Subjects: api key (1,000)" in page.locator("#subjects").inner_text()

        page.goto(f"/cases/{ref}?tab=intel")
        scroll_width, inner, tall, wide = _fits(page, TAB)
        assert scroll_width <= inner and tall <= MAX_TAB_HEIGHT[width], (
            scroll_width,
            inner,
            tall,
            wide,
        )
        page.get_by_text("Share indicators with the industry forum").click()
        group = page.locator("details[data-choice-group]").filter(has_text="ip prefix")
        group.locator("summary").click()
        counter = group.locator("[data-group-count]")
        assert counter.inner_text() == "0"  # in-clear types are never ticked for you
        group.get_by_label("Select all ip prefix").check()
        assert counter.inner_text() == "1,000"
        group.get_by_label("Filter ip prefix").fill("10.0.1")
        assert group.locator(".choices label:visible").count() < 1000
        scroll_width, inner, _, wide = _fits(page, TAB)
        assert scroll_width <= inner, f"intel share form {scroll_width}px wide at {width}: {wide}"
        shot(page, f"campaign-intel-share-{width}")

        page.goto(f"/cases/{ref}?tab=audit")
        scroll_width, inner, _, wide = _fits(page, TAB)
        assert scroll_width <= inner, f"audit tab {scroll_width}px wide at {width}: {wide}"
        assert "Casey Lindqvist" in page.locator("table.audit").inner_text()
        assert "None" not in page.locator("table.audit").inner_text()
        shot(page, f"campaign-audit-tab-{width}")
        page.locator("details.raw summary").first.click()
        assert '"seq"' in page.locator("details.raw[open] pre").first.inner_text()

        page.goto("/audit/")
        scroll_width, inner, _, wide = _fits(page, "main")
        assert scroll_width <= inner, f"audit trail {scroll_width}px wide at {width}: {wide}"
        shot(page, f"audit-trail-{width}")

        page.goto("/")
        if width < 800:  # on a phone the search box is in the folded menu
            page.get_by_role("button", name="Menu").click()
        search = page.get_by_role("searchbox", name="Search cases")
        search.fill("rotate")
        search.press("Enter")
        page.wait_for_url("**/cases/?q=rotate")
        snippet = page.locator("p.snippet").first
        assert "rotate" in snippet.locator("mark").inner_text()
        scroll_width, inner, _, wide = _fits(page, "main")
        assert scroll_width <= inner, f"search results {scroll_width}px wide at {width}: {wide}"
        shot(page, f"search-results-{width}")
