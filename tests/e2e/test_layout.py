"""In a real browser: the top menu folds behind a button on a phone and stays open on a desktop."""

from __future__ import annotations

from tests.e2e.conftest import shot, sign_in


def test_on_a_phone_the_menu_opens_from_its_button(new_page, make_user):
    page = new_page(390, 844)
    sign_in(page, make_user("analyst"))
    nav = page.get_by_role("navigation", name="Main")
    toggle = page.get_by_role("button", name="Menu")
    assert toggle.is_visible() and not nav.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert nav.is_visible() and toggle.get_attribute("aria-expanded") == "true"
    shot(page, "menu-open-390")
    nav.get_by_role("link", name="Review calendar").click()
    page.wait_for_url("**/reviews/team")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert not page.get_by_role("navigation", name="Main").is_visible()  # folded again


def test_on_a_desktop_the_menu_has_no_button(new_page, make_user):
    page = new_page(1440, 900)
    sign_in(page, make_user("analyst"))
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert not page.get_by_role("button", name="Menu").is_visible()
