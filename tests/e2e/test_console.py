"""In a real browser: a first visit leaves the console clean (no 404 for /favicon.ico)."""

from __future__ import annotations

from tests.e2e.conftest import sign_in


def test_a_first_visit_logs_no_console_error_and_loads_no_missing_file(new_page, make_user):
    page = new_page()
    console_errors: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, make_user("analyst"))
    page.goto("/cases/")
    page.wait_for_load_state("networkidle")
    assert console_errors == [] and failed == []
    # What Chromium fetches for the tab, whether or not the page links it.
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/vnd.microsoft.icon"
    hrefs = page.eval_on_selector_all("link[rel=icon]", "links => links.map(l => l.href)")
    assert [h.rsplit("/", 1)[1] for h in hrefs] == ["favicon.ico", "favicon.svg"]
    for href in hrefs:
        assert page.request.get(href).status == 200
