"""The pages: my reviews, the team calendar, the case's Reviews tab, the bell and its list."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.extensions import db
from compliance.reviews import tasks
from compliance.reviews.models import Notification, Review
from tests.reviews.conftest import T0


def test_my_reviews_shows_overdue_due_and_upcoming(app, clock, login_as, make_case):
    user, client = login_as("analyst")
    overdue = make_case(owner_id=user.id, title="Overdue sweep")  # reported: due T0 + 1 day
    clock.move_to(T0 + timedelta(days=2))
    due = make_case(owner_id=user.id, title="Due sweep")  # due tomorrow: in the notice window
    make_case(title="Someone else's case")

    page = client.get("/reviews/mine").get_data(as_text=True)
    overdue_part, rest = page.split("<h2", 2)[1:3]
    assert overdue.ref in overdue_part and "Overdue" in overdue_part
    assert due.ref in rest
    assert "Someone else" not in page


def test_the_team_calendar_lists_every_open_review_by_date(app, clock, login_as, make_case):
    first = make_case(title="First")
    clock.move_to(T0 + timedelta(days=3))
    second = make_case(title="Second")
    _, auditor = login_as("auditor")  # auditors read everything, including the calendar
    page = auditor.get("/reviews/team").get_data(as_text=True)
    assert page.index(first.ref) < page.index(second.ref)
    assert "2026-11-03" in page and "2026-11-06" in page
    assert auditor.get("/reviews/mine").status_code == 403  # but complete no reviews


def test_the_bell_counts_unread_and_the_list_marks_them_read(app, clock, login_as, make_case):
    user, client = login_as("analyst")
    case = make_case(owner_id=user.id)
    clock.move_to(T0 + timedelta(days=1, hours=1))
    tasks.run_due_pass()

    home = client.get("/").get_data(as_text=True)
    assert "Notifications: 1 unread" in home
    listing = client.get("/notifications").get_data(as_text=True)
    assert f"Review overdue: {case.ref}" in listing
    notification = db.session.scalar(select(Notification))
    response = client.post(
        "/notifications/read", data={"id": notification.id, "next": notification.link}
    )
    assert response.headers["Location"].endswith(f"/cases/{case.ref}?tab=reviews")
    assert "Notifications: 0 unread" in client.get("/").get_data(as_text=True)


def test_the_bell_works_for_every_role(app, login_as):
    for role in ("analyst", "counsel", "auditor", "admin"):
        _, client = login_as(role)
        page = client.get("/notifications")
        assert page.status_code == 200 and b"Notifications: 0 unread" in page.data


def test_nobody_can_mark_someone_elses_notifications_read(app, clock, login_as, make_case):
    owner, _ = login_as("analyst")
    make_case(owner_id=owner.id)
    clock.move_to(T0 + timedelta(days=2))
    tasks.run_due_pass()
    _, intruder = login_as("analyst")
    notification = db.session.scalar(select(Notification))
    intruder.post("/notifications/read", data={"id": notification.id})
    db.session.refresh(notification)
    assert notification.read_at is None


def test_a_review_is_signed_off_from_the_case_page(app, clock, login_as, make_case):
    user, client = login_as("analyst")
    case = make_case(owner_id=user.id)
    tab = client.get(f"/cases/{case.ref}?tab=reviews").get_data(as_text=True)
    assert "Record a review" in tab and "No review has been recorded" in tab
    token = tab.split('name="form_token" type="hidden" value="')[1].split('"')[0]

    response = client.post(
        f"/cases/{case.ref}/reviews",
        data={
            "kind": "case",
            "form_token": token,
            "outcome": "escalate",
            "notes": "Volume **doubled**",
            "next_review_on": "2026-11-03",
        },
    )
    assert response.status_code == 302
    history = client.get(f"/cases/{case.ref}?tab=reviews").get_data(as_text=True)
    assert "Escalate" in history and user.name in history and "<strong>doubled</strong>" in history
    assert db.session.scalar(select(func.count(Review.id))) == 1


def test_an_auditor_cannot_post_a_review(app, login_as, make_case):
    case = make_case()
    _, auditor = login_as("auditor")
    form = {"kind": "case", "form_token": "t", "outcome": "continue"}
    assert auditor.post(f"/cases/{case.ref}/reviews", data=form).status_code == 403


def test_the_case_list_flags_overdue_reviews(app, clock, login_as, make_case):
    make_case(title="Quiet case")
    _, client = login_as("analyst")
    assert b'badge overdue">overdue' not in client.get("/cases/").data
    clock.move_to(T0 + timedelta(days=1, minutes=1))
    assert b'badge overdue">overdue' in client.get("/cases/").data


def test_a_hold_review_form_is_offered_to_counsel_only(app, login_as, make_case):
    from compliance.cases import operations as cases

    counsel_user, counsel = login_as("counsel")
    case = make_case()
    cases.place_hold(case, Actor.for_user(counsel_user), "litigation")
    db.session.commit()
    _, analyst = login_as("analyst")
    assert b"Record a legal-hold review" in counsel.get(f"/cases/{case.ref}?tab=reviews").data
    assert b"Record a legal-hold review" not in analyst.get(f"/cases/{case.ref}?tab=reviews").data


def test_reviews_of_cases_nobody_owns_are_in_counsels_my_reviews(
    app, clock, login_as, make_case, make_user
):
    from compliance.auth.operations import set_active

    unowned = make_case(title="Nobody's sweep")
    leaver = make_user("analyst")
    orphaned = make_case(owner_id=leaver.id, title="Left behind")
    set_active(Actor.cli_operator(), leaver, False)
    db.session.commit()
    _, counsel = login_as("counsel")
    page = counsel.get("/reviews/mine").get_data(as_text=True)
    assert unowned.ref in page and orphaned.ref in page
    assert page.count('<span class="badge unassigned">unassigned</span>') == 3  # 2 rows + intro
    _, analyst = login_as("analyst")  # analysts see only their own cases
    assert unowned.ref not in analyst.get("/reviews/mine").get_data(as_text=True)


def test_the_calendar_shows_the_month_as_a_grid_beside_the_list(app, clock, login_as, make_case):
    make_case(title="First")  # reported on T0 (2 Nov): due a day later
    make_case(title="Second")
    clock.move_to(T0 + timedelta(days=40))  # 12 December: both overdue by then
    make_case(title="Third")  # due 13 December
    _, client = login_as("analyst")
    page = client.get("/reviews/team").get_data(as_text=True)
    grid = page[page.index('<table class="month-grid">') : page.index("</table>")]
    assert "December 2026" in page
    assert grid.count('class="count"') == 1 and 'title="1 review due 2026-12-13"' in grid
    assert "2 overdue</span> from before this month" in page
    assert 'href="#day-2026-12-13"' in grid and 'id="day-2026-12-13"' in page
    november = client.get("/reviews/team?month=2026-11").get_data(as_text=True)
    assert "November 2026" in november and 'title="2 reviews due 2026-11-03"' in november
    # Other months and a bad month argument still render.
    january = client.get("/reviews/team?month=2027-01&days=7").get_data(as_text=True)
    assert "January 2027" in january
    assert client.get("/reviews/team?month=nonsense").status_code == 200
