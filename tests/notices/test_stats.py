"""Dashboard figures: notices by next deadline and each recipient's response times, counted in
its business days; the chart and the dashboard section render."""

from __future__ import annotations

from datetime import UTC, date, datetime

import time_machine

from compliance.actor import Actor
from compliance.extensions import db
from compliance.notices import stats
from compliance.notices.operations import transition_notice
from tests.notices.followup import make_recipient, send_notice


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_response_times_per_recipient_in_business_days(backend, app, make_case, make_user):
    counsel = Actor.for_user(make_user("counsel"))
    fast = make_recipient(counsel)
    slow = make_recipient(counsel, name="Weightbarn LLC (fictional)")
    case = make_case(summary="Several distilled models")
    # (recipient, sent, acknowledged, removed) — Thanksgiving, 26 Nov 2026, does not count.
    story = [
        (fast, date(2026, 11, 16), date(2026, 11, 16), date(2026, 11, 17)),
        (fast, date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)),
        (fast, date(2026, 11, 16), date(2026, 11, 18), date(2026, 11, 23)),
        (slow, date(2026, 11, 23), date(2026, 11, 30), None),  # 23->30 Nov: 4 business days
    ]
    for recipient, sent, acked, removed in story:
        with time_machine.travel(at(sent), tick=False) as clock:
            notice = send_notice(case, counsel, recipient, sent_on=at(sent, 9))
            clock.move_to(at(acked, 12))
            transition_notice(notice, counsel, "acknowledged", occurred_at=at(acked, 11))
            if removed:
                clock.move_to(at(removed, 12))
                transition_notice(
                    notice, counsel, "resolved", outcome="removed", occurred_at=at(removed, 11)
                )
            db.session.commit()
    times = {t.name: t for t in stats.response_times()}
    quick = times[fast.name]
    assert quick.sent == 3
    assert (quick.acknowledgment.n, quick.acknowledgment.median) == (3, 1.0)
    assert quick.acknowledgment.p90 == 1.8  # 0, 1, 2: the 90th percentile between 1 and 2
    assert (quick.removal.median, quick.removal.p90) == (2.0, 4.4)  # 1, 2, 5 business days
    lagging = times[slow.name]
    assert (lagging.acknowledgment.median, lagging.removal.n) == (4.0, 0)
    svg = stats.response_times_svg()
    assert svg.startswith("<?xml") and "Weightbarn" in svg and "90th pct" in svg


def test_the_dashboard_shows_notices_by_next_deadline(backend, app, make_case, login_as):
    user, client = login_as("counsel")
    counsel = Actor.for_user(user)
    notice = send_notice(make_case(), counsel, make_recipient(counsel))
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "By next deadline" in html and notice.our_reference in html
    assert "5 business days left" in html or "business day" in html
    chart = client.get("/notices/charts/response-times.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    listing = client.get("/notices/")
    assert "Next deadline" in listing.get_data(as_text=True)
