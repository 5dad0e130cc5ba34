"""Business days the way the law counts them: weekends and the jurisdiction's public holidays.

Pure functions of dates (no database, no clock): the notices' deadlines, the reminders and the
pages all count through here, so a date shown, a reminder sent and an escalation agree.

Holidays come from the maintained `holidays` package, per ISO country code and optional
subdivision (a U.S. state, a German Land). A jurisdiction it does not know counts weekends only
(`calendar_for(...).known` is False, and the pages say so) rather than refusing to count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays

log = logging.getLogger(__name__)

SATURDAY, SUNDAY = 5, 6
# 17 U.S.C. § 512(g)(2)(C): the provider replaces the removed material "not less than 10, nor
# more than 14, business days following receipt of the counter notice", unless its designated
# agent first receives notice that the complainant filed an action.
RESTORE_MIN_BUSINESS_DAYS = 10
RESTORE_MAX_BUSINESS_DAYS = 14
# A jurisdiction-less notice is counted like the statute it most often runs under.
DEFAULT_COUNTRY = "US"


@dataclass(frozen=True)
class Calendar:
    """The business-day calendar of one jurisdiction: its weekend and its public holidays."""

    country: str
    subdivision: str | None
    weekend: frozenset[int]
    known: bool  # False: the holidays package does not know the country; weekends only

    def holidays_in(self, year: int) -> dict[date, str]:
        return _holidays(self.country, self.subdivision, year) if self.known else {}

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on `day`, or None."""
        return self.holidays_in(day.year).get(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and self.holiday(day) is None

    @property
    def label(self) -> str:
        where = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        return where if self.known else f"{where} (weekends only: holidays unknown)"


@lru_cache(maxsize=512)
def _holidays(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    # One immutable snapshot per (jurisdiction, year): the package's objects grow as they are
    # queried, which is not safe to share between threads.
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return dict(table.items())


@lru_cache(maxsize=256)
def _calendar(country: str, subdivision: str | None) -> Calendar:
    try:
        probe = holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        if subdivision is not None and country in holidays.list_supported_countries():
            # A subdivision the package does not know: its nation's holidays still count.
            log.warning(
                "unknown subdivision %s of %s: national holidays only", subdivision, country
            )
            return _calendar(country, None)
        log.warning("no public holidays known for %s: counting weekends only", country)
        return Calendar(country, subdivision, frozenset({SATURDAY, SUNDAY}), known=False)
    weekend = frozenset(getattr(probe, "weekend", None) or {SATURDAY, SUNDAY})
    return Calendar(country, subdivision, weekend, known=True)


def calendar_for(country: str | None, subdivision: str | None = None) -> Calendar:
    """The calendar of an ISO 3166 country code (and subdivision); unknown codes count weekends.

    A subdivision the package does not know for that country is dropped (its national holidays
    still count), never a reason to fail a deadline.
    """
    code = (country or DEFAULT_COUNTRY).strip().upper()
    sub = (subdivision or "").strip().upper() or None
    return _calendar(code, sub)


def add_business_days(
    start: date, n: int, country: str | None = DEFAULT_COUNTRY, subdivision: str | None = None
) -> date:
    """The `n`th business day after `start` (before it when `n` is negative).

    Counting starts the day after `start`, as statutes count "days following receipt": a notice
    received on a Saturday with n=1 gives Monday. n=0 returns `start` itself.
    """
    calendar = calendar_for(country, subdivision)
    step = 1 if n >= 0 else -1
    day, remaining = start, abs(n)
    while remaining:
        day += timedelta(days=step)
        if calendar.is_business_day(day):
            remaining -= 1
    return day


def business_days_between(
    start: date, end: date, country: str | None = DEFAULT_COUNTRY, subdivision: str | None = None
) -> int:
    """Business days after `start` up to and including `end`; negative when `end` is earlier.

    The inverse of `add_business_days` on business days: between(d, add(d, n)) == n.
    """
    if end == start:
        return 0
    if end < start:
        return -business_days_between(end, start, country, subdivision)
    calendar = calendar_for(country, subdivision)
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            count += 1
    return count


def holidays_between(
    start: date, end: date, country: str | None = DEFAULT_COUNTRY, subdivision: str | None = None
) -> list[tuple[date, str]]:
    """The public holidays after `start` up to and including `end` (why a window is longer)."""
    calendar = calendar_for(country, subdivision)
    found = []
    for year in range(start.year, end.year + 1):
        found.extend(
            (d, name) for d, name in calendar.holidays_in(year).items() if start < d <= end
        )
    return sorted(found)


def restoration_window(
    received_on: date, country: str | None = DEFAULT_COUNTRY, subdivision: str | None = None
) -> tuple[date, date]:
    """17 U.S.C. § 512(g): (earliest, latest) day the platform restores after a counter-notice.

    The platform may restore from the 10th business day after it received the counter-notice
    and must by the 14th, unless we tell it first that suit was filed: so the earliest day is
    also the last moment to stop the restoration.
    """
    return (
        add_business_days(received_on, RESTORE_MIN_BUSINESS_DAYS, country, subdivision),
        add_business_days(received_on, RESTORE_MAX_BUSINESS_DAYS, country, subdivision),
    )


def follow_up_target(
    sent_on: date,
    expected_business_days: int,
    country: str | None = DEFAULT_COUNTRY,
    subdivision: str | None = None,
) -> date:
    """When we chase the recipient: its expected response time after we sent (or it answered)."""
    return add_business_days(sent_on, max(expected_business_days, 0), country, subdivision)


def days_left_text(
    today: date, due: date, country: str | None = DEFAULT_COUNTRY, subdivision: str | None = None
) -> str:
    """ "3 business days left", "due today", "overdue by 2 business days" — for pages and mails."""
    left = business_days_between(today, due, country, subdivision)
    if due == today:
        return "due today"
    if due > today:
        if left == 0:  # due on a weekend or holiday that follows today
            return "due before the next business day"
        return f"{left} business day{'s' if left != 1 else ''} left"
    late = -left
    if late == 0:
        return "overdue (since a non-business day)"
    return f"overdue by {late} business day{'s' if late != 1 else ''}"


__all__ = [
    "RESTORE_MAX_BUSINESS_DAYS",
    "RESTORE_MIN_BUSINESS_DAYS",
    "Calendar",
    "add_business_days",
    "business_days_between",
    "calendar_for",
    "days_left_text",
    "follow_up_target",
    "holidays_between",
    "restoration_window",
]
