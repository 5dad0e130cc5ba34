"""People are shown by name, not by their audit label (`user:<email>`)."""

from __future__ import annotations

from compliance.actor import Actor
from compliance.auth.people import display_name
from compliance.cases import operations
from compliance.extensions import db


def test_note_authors_and_case_openers_by_name(app, make_user, make_case, login_as):
    author = make_user("counsel", email="casey.l@lab.example", name="Casey Lindqvist")
    case = make_case(actor=Actor.for_user(author), title="Named people")
    operations.add_note(case, Actor.for_user(author), "First look at the accounts.")
    db.session.commit()
    _, client = login_as("analyst")
    notes = client.get(f"/cases/{case.ref}?tab=notes").get_data(as_text=True)
    assert "<strong" in notes and ">Casey Lindqvist</strong>" in notes
    assert ">user:casey.l@lab.example<" not in notes
    overview = client.get(f"/cases/{case.ref}?tab=overview").get_data(as_text=True)
    assert "by Casey Lindqvist" in overview


def test_labels_that_are_not_people_read_as_words(app):
    with app.test_request_context():
        assert display_name("cli:root") == "root (command line)"
        assert display_name("system:reviews") == "scheduler (reviews)"
        assert display_name("token:query-fingerprint detector") == (
            "API token query-fingerprint detector"
        )
        assert display_name(None) == "—"
        assert display_name("user:nobody@lab.example") == "nobody@lab.example"
