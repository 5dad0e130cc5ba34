"""The tab icon: /favicon.ico answers (no 404 in the browser's console) and pages link it."""

from __future__ import annotations


def test_favicon_ico_is_served_to_anyone_and_may_be_cached(app, client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "no-store" not in response.headers["Cache-Control"]
    assert response.cache_control.max_age == 86400


def test_every_page_links_the_icon(app, client, login_as):
    login_page = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in login_page
    assert 'href="/static/favicon.svg" type="image/svg+xml"' in login_page
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    _, signed_in = login_as("analyst")
    assert '<link rel="icon" href="/favicon.ico"' in signed_in.get("/").get_data(as_text=True)
