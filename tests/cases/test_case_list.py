"""The case list: search (never leaking privileged notes), filters, sort, constant queries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from compliance.cases import operations
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.extensions import db
from tests.conftest import count_queries


def test_search_finds_title_summary_and_notes(app, login_as, make_case, actor_for):
    counsel = actor_for("counsel")
    coding = make_case(title="Coding sweep", summary="Templated prompts from **acct_81f2c0**")
    other = make_case(title="Canary hit in a public model")
    operations.add_note(other, counsel, "Seller handle: quantumharvest")
    operations.add_note(coding, counsel, "Privileged strategy: settle with bluefalcon", True)
    db.session.commit()
    _, analyst = login_as("analyst")
    assert b"Coding sweep" in analyst.get("/cases/?q=acct_81f2c0").data
    page = analyst.get("/cases/?q=quantumharv").data  # prefix of the last word
    assert b"Canary hit" in page and b"Coding sweep" not in page
    # Privileged notes are never searchable by those who cannot read them...
    assert b"Coding sweep" not in analyst.get("/cases/?q=bluefalcon").data
    # ...and are by counsel.
    _, counsel_client = login_as("counsel")
    assert b"Coding sweep" in counsel_client.get("/cases/?q=bluefalcon").data


def test_search_lists_newest_cases_first_unless_told_otherwise(app, login_as, make_case, operator):
    first = make_case(title="Older sweep by quantumharvest")
    second = make_case(title="Newer sweep by quantumharvest")
    make_case(title="Unrelated canary hit")
    operations.update_case(first, operator, {"summary": "touched last"})
    db.session.commit()
    _, client = login_as("analyst")
    page = client.get("/cases/?q=quantumharvest").get_data(as_text=True)
    # Counted in the search index, listed in its order (newest case first)...
    assert 'Cases <span class="muted">(2)</span>' in page
    assert page.index("Newer sweep") < page.index("Older sweep")
    assert '<option value="ref" selected>' in page
    # ...and any other order on request.
    updated = client.get("/cases/?q=quantumharvest&sort=updated").get_data(as_text=True)
    assert updated.index("Older sweep") < updated.index("Newer sweep")
    # With another filter besides the text, the count reads the cases themselves.
    medium = client.get(f"/cases/?q=quantumharvest&severity={second.severity}").get_data(
        as_text=True
    )
    assert 'Cases <span class="muted">(2)</span>' in medium


def test_owner_filter_offers_analysts_and_counsel(app, login_as, make_user):
    analyst = make_user("analyst", name="Ada <Analyst>")
    make_user("auditor", name="Audrey Auditor")
    _, client = login_as("counsel")
    page = client.get(f"/cases/?owner={analyst.id}").get_data(as_text=True)
    assert f'<option value="{analyst.id}" selected>Ada &lt;Analyst&gt; (analyst)</option>' in page
    assert "Audrey Auditor" not in page
    # The options are kept between pages, and a new colleague shows up on the next one.
    newcomer = make_user("counsel", name="Nina Newcomer")
    page = client.get("/cases/").get_data(as_text=True)
    assert f'<option value="{newcomer.id}">Nina Newcomer (counsel)</option>' in page
    assert f'<option value="{analyst.id}">Ada &lt;Analyst&gt; (analyst)</option>' in page


def test_search_ignores_query_syntax(app, login_as, make_case):
    make_case(title='Quote "test" case')
    _, client = login_as("analyst")
    for nasty in ('"', "AND OR NOT", "*", "title:x", "a' OR 1=1 --", "(", "NEAR(a b)"):
        assert client.get("/cases/", query_string={"q": nasty}).status_code == 200


def test_overdue_and_hold_filters(app, login_as, make_case, actor_for):
    late = make_case(title="Late review")
    make_case(title="On time")
    held = make_case(title="Held case")
    db.session.execute(
        update(Case).where(Case.id == late.id).values(next_review_at=utcnow() - timedelta(days=2))
    )
    operations.place_hold(held, actor_for("counsel"), "Litigation anticipated")
    db.session.commit()
    _, client = login_as("analyst")
    overdue = client.get("/cases/?overdue=1").data
    assert b"Late review" in overdue and b"On time" not in overdue
    holds = client.get("/cases/?hold=1").data
    assert b"Held case" in holds and b"Late review" not in holds


def test_case_list_and_dashboard_queries_do_not_grow_with_data(app, login_as, make_case, make_user):
    user, client = login_as("counsel")
    owner = make_user("analyst")
    for n in range(3):
        make_case(title=f"Case {n}", owner_id=owner.id)
    client.get("/cases/")  # the owner filter's options, kept between pages, are in place
    counts_small = {url: count_queries(client, url) for url in ("/cases/", "/")}
    for n in range(30):
        make_case(title=f"More {n}", owner_id=owner.id if n % 2 else user.id)
    counts_large = {url: count_queries(client, url) for url in ("/cases/", "/")}
    assert counts_small == counts_large
