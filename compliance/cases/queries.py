"""What the pages ask about cases, as queries (views load -> check -> act -> respond).

The case list: filters and paging run on case ids alone (covered by the indexes on the
filtered and sorted columns); only the page's 25 cases are then loaded. OFFSET on full rows
would read and discard every skipped case with its owner join.

The work queues read only the columns they show: whole cases (each with its owner joined)
cost twice as much to load, for ten lines of links each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, and_, func, select

from compliance.cases import search
from compliance.cases.models import OPEN_STATES, SEVERITIES, STATES, Case, CaseTransition
from compliance.db import utcnow
from compliance.extensions import db

PER_PAGE = 25
COUNT_CAP = 10_000

# (key, label, order). After a search the default is the search index's own order (newest
# case first): a page then reads its 25 matches instead of sorting every match.
SORTS = {
    "updated": ("recently updated", (Case.updated_at.desc(), Case.id.desc())),
    "created": ("newest", (Case.created_at.desc(), Case.id.desc())),
    "review": ("next review", (Case.next_review_at.asc(), Case.id.asc())),
    "ref": ("case number, newest first", (Case.id.desc(),)),
}
SEARCH_SORT = "ref"


@dataclass
class CaseListPage:
    cases: list[Case]
    page: int
    total: int  # capped at COUNT_CAP
    more: bool  # more than COUNT_CAP matched
    has_next: bool
    snippets: dict[int, list[search.Snippet]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max((self.total + PER_PAGE - 1) // PER_PAGE, 1)


def default_sort(query: str) -> str:
    return SEARCH_SORT if query else "updated"


def case_list(filters: dict[str, Any], page: int, privileged: bool) -> CaseListPage:
    """One page of the cases matching `filters` (q, state, severity, owner, overdue, hold,
    sort); `privileged` (counsel) also searches, and quotes from, privileged notes."""
    conditions = []
    if filters.get("state") in STATES:
        conditions.append(Case.state == filters["state"])
    if filters.get("severity") in SEVERITIES:
        conditions.append(Case.severity == filters["severity"])
    if filters.get("owner"):
        conditions.append(Case.owner_id == filters["owner"])
    if filters.get("overdue"):
        conditions += [Case.next_review_at < utcnow(), Case.state.in_(OPEN_STATES)]
    if filters.get("hold"):
        conditions.append(Case.legal_hold.is_(True))
    query = select(Case.id).where(*conditions)
    text = filters.get("q") or ""
    if text:
        query = search.filter_matching(query, Case.id, text, privileged=privileged)
    # Counting stops at COUNT_CAP: an exact count of 100,000 matching cases would cost more
    # than the page itself, and nobody pages past 400 pages (they filter or search instead).
    # A text search alone is counted in the search index, without reading each case's row.
    total = (
        search.count_matching(text, privileged, COUNT_CAP + 1) if text and not conditions else None
    )
    if total is None:
        total = db.session.scalar(
            select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())
        )
    order = SORTS.get(filters.get("sort") or "", SORTS[default_sort(text)])[1]
    ids = db.session.scalars(
        query.order_by(*order).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).all()
    loaded = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}
    cases = [loaded[case_id] for case_id in ids if case_id in loaded]
    return CaseListPage(
        cases=cases,
        page=page,
        total=min(total, COUNT_CAP),
        more=total > COUNT_CAP,
        has_next=len(ids) == PER_PAGE and (total > COUNT_CAP or page * PER_PAGE < total),
        snippets=search.snippets([c.id for c in cases], text, privileged) if text else {},
    )


# ---------------------------------------------------------------- work queues
QUEUE_LIMIT = 10


def my_open_cases(user_id: int, limit: int = QUEUE_LIMIT) -> list[Row]:
    """The open cases someone owns, the next review first (ref, title, state, next review)."""
    return db.session.execute(
        select(Case.ref, Case.title, Case.state, Case.next_review_at)
        .where(and_(Case.owner_id == user_id, Case.state.in_(OPEN_STATES)))
        .order_by(Case.next_review_at.asc().nulls_last(), Case.updated_at.desc())
        .limit(limit)
    ).all()


def new_reports(limit: int = QUEUE_LIMIT) -> list[Row]:
    """Cases still `reported`, newest first (ref, title, severity)."""
    return db.session.execute(
        select(Case.ref, Case.title, Case.severity)
        .where(Case.state == "reported")
        .order_by(Case.created_at.desc())
        .limit(limit)
    ).all()


def awaiting_approval_by(user_id: int, limit: int = QUEUE_LIMIT) -> list[Row]:
    """Cases in legal review this counsel may approve (four-eyes: not the one who sent)."""
    sent_by_them = (
        select(CaseTransition.id)
        .where(
            CaseTransition.case_id == Case.id,
            CaseTransition.to_state == "legal_review",
            CaseTransition.actor_user_id == user_id,
        )
        .exists()
    )
    return db.session.execute(
        select(Case.ref, Case.title)
        .where(Case.state == "legal_review", ~sent_by_them)
        .order_by(Case.updated_at)
        .limit(limit)
    ).all()
