"""Business days counted like the law counts them: weekends, public holidays, year ends."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from compliance.notices.deadlines import (
    add_business_days,
    business_days_between,
    calendar_for,
    days_left_text,
    follow_up_target,
    holidays_between,
    restoration_window,
)


def test_a_weekend_is_skipped():
    friday = date(2026, 10, 16)
    assert add_business_days(friday, 1, "US") == date(2026, 10, 19)  # Monday
    assert add_business_days(date(2026, 10, 17), 1, "US") == date(2026, 10, 19)  # from Saturday
    assert add_business_days(friday, 0, "US") == friday
    assert add_business_days(date(2026, 10, 19), -1, "US") == friday


def test_a_counter_notice_received_before_thanksgiving_2026():
    # Wednesday 25 November; Thursday 26 is Thanksgiving (a federal holiday), Friday 27 is not.
    earliest, latest = restoration_window(date(2026, 11, 25), "US")
    assert earliest == date(2026, 12, 10)  # 10 business days: Thanksgiving and 2 weekends skipped
    assert latest == date(2026, 12, 16)
    assert business_days_between(date(2026, 11, 25), earliest, "US") == 10
    assert [name for _, name in holidays_between(date(2026, 11, 25), latest, "US")] == [
        "Thanksgiving Day"
    ]


def test_a_counter_notice_received_before_christmas_crosses_the_year():
    # Friday 18 December 2026: Christmas (Fri 25 Dec) and New Year's Day (Fri 1 Jan 2027).
    earliest, latest = restoration_window(date(2026, 12, 18), "US")
    assert earliest == date(2027, 1, 5)
    assert latest == date(2027, 1, 11)
    assert business_days_between(date(2026, 12, 18), latest, "US") == 14
    assert business_days_between(latest, date(2026, 12, 18), "US") == -14


def test_without_holidays_the_same_window_is_shorter():
    # The same dates counted as weekends only end two business days earlier.
    assert restoration_window(date(2026, 12, 18), "ZZ") == (date(2027, 1, 1), date(2027, 1, 7))
    assert calendar_for("ZZ").known is False
    assert "weekends only" in calendar_for("ZZ").label


def test_german_holidays_nationwide_and_by_land():
    # 3 October (Day of German Unity) is a Saturday in 2026; Christmas: 25 and 26 December.
    assert add_business_days(date(2026, 12, 23), 2, "DE") == date(2026, 12, 28)
    # Corpus Christi (4 June 2026) is a holiday in Bavaria but not in Berlin.
    assert add_business_days(date(2026, 6, 3), 1, "DE", "BY") == date(2026, 6, 5)
    assert add_business_days(date(2026, 6, 3), 1, "DE", "BE") == date(2026, 6, 4)
    # Christmas Eve is a business day in Germany (24, 28, 29, 30, 31 December).
    assert business_days_between(date(2026, 12, 23), date(2026, 12, 31), "DE") == 5
    # Whit Monday (25 May 2026) is a German holiday and not an American one.
    assert add_business_days(date(2026, 5, 22), 1, "DE") == date(2026, 5, 26)
    assert add_business_days(date(2026, 5, 22), 1, "US") == date(2026, 5, 26)  # Memorial Day
    assert add_business_days(date(2026, 5, 29), 1, "DE") == date(2026, 6, 1)


def test_an_unknown_subdivision_keeps_the_national_holidays():
    assert calendar_for("US", "XX").known is True
    assert add_business_days(date(2026, 11, 25), 1, "US", "XX") == date(2026, 11, 27)


def test_follow_up_target_counts_the_recipients_expected_days():
    assert follow_up_target(date(2026, 11, 20), 5, "US") == date(2026, 11, 30)
    assert follow_up_target(date(2026, 11, 20), 0, "US") == date(2026, 11, 20)


@pytest.mark.parametrize(
    ("today", "due", "text"),
    [
        (date(2026, 12, 10), date(2026, 12, 10), "due today"),
        (date(2026, 12, 9), date(2026, 12, 10), "1 business day left"),
        (date(2026, 11, 25), date(2026, 12, 10), "10 business days left"),
        (date(2026, 12, 11), date(2026, 12, 10), "overdue by 1 business day"),
        (date(2026, 12, 14), date(2026, 12, 10), "overdue by 2 business days"),
        (date(2026, 12, 12), date(2026, 12, 11), "overdue (since a non-business day)"),
    ],
)
def test_days_left_text(today, due, text):
    assert days_left_text(today, due, "US") == text


@pytest.mark.parametrize("start", [date(2026, 1, 1) + timedelta(d) for d in range(0, 365, 11)])
@pytest.mark.parametrize("n", [1, 5, 10, 14, 30])
def test_between_inverts_add(start, n):
    assert business_days_between(start, add_business_days(start, n, "US"), "US") == n
    end = add_business_days(start, n, "US")
    assert add_business_days(end, -n, "US") <= start


def test_a_friday_saturday_weekend_is_the_jurisdictions_own():
    thursday = date(2026, 11, 12)
    assert add_business_days(thursday, 1, "IL") == date(2026, 11, 15)  # Sunday is a work day
    assert add_business_days(thursday, 1, "US") == date(2026, 11, 13)
