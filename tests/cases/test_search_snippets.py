"""The global search: a box in the top bar, results that say why each case matched, and
snippets that never quote a privileged note to someone who may not read it."""

from __future__ import annotations

import re

from compliance.cases import operations
from compliance.extensions import db


def _rows(html: str) -> str:
    return html.split('<table class="cases">')[1].split("</table>")[0]


def test_snippets_show_why_a_case_matched_and_respect_privilege(
    app, make_case, make_user, login_as
):
    counsel_user = make_user("counsel")
    from compliance.actor import Actor

    counsel = Actor.for_user(counsel_user)
    public = make_case(title="Quokka harvesting campaign", summary="Templated prompts.")
    hidden = make_case(title="Unrelated title", summary="Nothing to see.")
    operations.add_note(
        public, counsel, "Strategy: settle the quokka matter quietly", privileged=True
    )
    operations.add_note(hidden, counsel, "The quokka defendant's counsel called", privileged=True)
    operations.add_note(hidden, counsel, "Public note about wombats and quokkas", privileged=False)
    db.session.commit()

    _, analyst = login_as("analyst")
    html = analyst.get("/cases/?q=quokka").get_data(as_text=True)
    rows = _rows(html)
    assert public.ref in rows and hidden.ref in rows
    assert "<mark>Quokka</mark> harvesting" in rows  # the title is why `public` matched
    assert "wombats and <mark>quokkas</mark>" in rows  # a public note, for `hidden`
    # Privileged text is neither searched nor quoted for an analyst.
    assert "settle" not in html and "defendant" not in html and "privileged note" not in rows
    assert "privileged notes are not searched" in html
    only_privileged = analyst.get("/cases/?q=defendant").get_data(as_text=True)
    assert hidden.ref not in _rows(only_privileged) and "defendant" not in _rows(only_privileged)

    _, lawyer = login_as("counsel")
    rows = _rows(lawyer.get("/cases/?q=defendant").get_data(as_text=True))
    assert hidden.ref in rows and "privileged note" in rows and "<mark>defendant</mark>" in rows


def test_search_box_in_the_top_bar_and_sort_shows_the_search_order(app, make_case, login_as):
    make_case(title="Coverage sweep of the math benchmark")
    _, client = login_as("analyst")
    dashboard = client.get("/").get_data(as_text=True)
    assert re.search(r'<form class="top-search" role="search"[^>]*action="/cases/"', dashboard)
    html = client.get("/cases/?q=sweep").get_data(as_text=True)
    selected = re.search(r'<option value="(\w+)" selected>([^<]+)</option>', html)
    assert selected.groups() == ("ref", "case number, newest first")
    assert 'name="q" aria-label="Search cases" placeholder="Search cases" value="sweep"' in html
    chosen = client.get("/cases/?q=sweep&sort=updated").get_data(as_text=True)
    assert '<option value="updated" selected>recently updated</option>' in chosen
    assert '<option value="updated" selected>' in client.get("/cases/").get_data(as_text=True)


def test_a_subject_is_quoted_when_it_is_why_a_case_matched(app, login_as, make_case):
    from tests.scale import grow_case

    case = make_case(title="Campaign")
    grow_case(case.ref, findings=2, subjects=6)
    _, client = login_as("analyst")
    rows = _rows(client.get("/cases/?q=api_key").get_data(as_text=True))
    assert case.ref in rows and '<span class="where">api key</span>' in rows
