"""What every page shares: the folding top menu, our own error pages, whole-number chart axes."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from compliance.web.charts import count_axis


def test_the_top_menu_folds_behind_a_button_that_names_what_it_controls(app, login_as):
    _, client = login_as("analyst")
    page = client.get("/").get_data(as_text=True)
    toggle = re.search(r'<button class="menu-toggle"[^>]*>', page).group(0)
    assert 'aria-expanded="false"' in toggle and 'aria-controls="menu"' in toggle
    menu = page[page.index('<div class="menu" id="menu">') :]
    assert menu.index('<nav aria-label="Main">') < menu.index("Sign out")


def test_a_refused_page_says_so_in_our_words_not_werkzeugs(app, login_as):
    user, client = login_as("analyst")
    response = client.get("/admin/users")
    text = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You do not have access to this (403)" in text
    assert "Your role may not open this page" in text
    assert f"signed in as {user.name} (analyst)" in text
    assert "permission to access the requested resource" not in text


def test_an_unknown_address_is_our_404_page_and_stays_json_under_the_api(app, login_as):
    _, client = login_as("analyst")
    page = client.get("/no/such/page")
    assert page.status_code == 404 and b"Not found (404)" in page.data
    assert b"There is nothing at this address" in page.data
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"
    assert "requested URL was not found" in api.json["error"]["message"]  # unchanged for scripts


@pytest.fixture
def app_config(app_config):
    return {**app_config, "PROPAGATE_EXCEPTIONS": False}


def test_an_unexpected_error_is_our_500_page_with_the_request_id_and_no_detail(
    app: Flask, login_as, monkeypatch
):
    from compliance.web import views

    def broken(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setitem(views.CHARTS, "cases-by-state", broken)
    monkeypatch.setattr(app, "testing", False)  # the handler re-raises under test
    _, client = login_as("analyst")
    response = client.get("/charts/cases-by-state.svg")
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side (500)" in text
    assert re.search(r"under request <code>web-[^<]+</code>", text)
    assert "SELECT secret" not in text


@pytest.mark.parametrize(
    ("values", "labels"),
    [([0, 0], [0, 1]), ([0, 1, 1], [0, 1]), ([3], [0, 1, 2, 3]), ([12], [0, 3, 6, 9, 12])],
)
def test_count_axes_are_whole_numbers(values, labels):
    assert count_axis(values) == labels


def test_the_state_chart_labels_its_axis_in_whole_cases(app, login_as, make_case):
    make_case()
    _, client = login_as("analyst")
    svg = client.get("/charts/cases-by-state.svg").get_data(as_text=True)
    numbers = re.findall(r"<text[^>]*>(\d+(?:\.\d+)?)</text>", svg)
    assert numbers and all("." not in n for n in numbers), numbers
