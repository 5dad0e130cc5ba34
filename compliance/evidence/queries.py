"""What the evidence pages ask, as queries (views load -> check -> act -> respond).

The case's Evidence tab: summaries, pages and filters, counted and paged in SQL.

A campaign case holds a thousand findings and ten thousand subjects. The tab reads counts by
kind and by subject type, then one page of findings, files and subjects: its cost follows the
page, not the case. The statements are built once and bound per request (building and keying
a statement cost more than running it on this page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import aliased

from compliance.cases.models import SUBJECT_TYPES, Case, CaseSubject, Subject
from compliance.evidence.models import (
    FINDING_KINDS,
    CustodyEvent,
    DuplicateFlag,
    EvidenceItem,
    Finding,
)
from compliance.extensions import db

TAB_PAGE = 25  # findings (and files) per page of a case's Evidence tab
SUBJECT_PAGE = 25  # subjects per page
OTHER_CASES_SHOWN = 8  # other cases named beside a subject (the rest counted)

ITEM_COLUMNS = (
    EvidenceItem.id,
    EvidenceItem.name,
    EvidenceItem.description,
    EvidenceItem.source,
    EvidenceItem.collected_at,
    EvidenceItem.sha256,
    EvidenceItem.size_bytes,
    EvidenceItem.supersedes_id,
    EvidenceItem.supersede_reason,
)
CUSTODY_COLUMNS = (
    CustodyEvent.item_id,
    CustodyEvent.action,
    CustodyEvent.occurred_at,
    CustodyEvent.actor,
    CustodyEvent.actor_name,
    CustodyEvent.actor_role,
    CustodyEvent.purpose,
)

_CORRECTION = aliased(EvidenceItem)
_OTHER = aliased(CaseSubject)
_CASE_ID, _OFFSET, _IDS, _KIND, _TYPE = (
    bindparam("case_id"),
    bindparam("offset"),
    bindparam("ids", expanding=True),
    bindparam("kind"),
    bindparam("type"),
)


def _findings_page(*where: Any) -> Any:
    return (
        select(Finding.id, Finding.content_sha256)
        .where(Finding.case_id == _CASE_ID, *where)
        .order_by(Finding.observed_to.desc(), Finding.id.desc())
        .limit(TAB_PAGE)
        .offset(_OFFSET)
    )


_PAGE_FINDINGS = _findings_page()
_PAGE_FINDINGS_OF_KIND = _findings_page(Finding.kind == _KIND)
_PAGE_ITEMS = (
    # supersedes_id is unique: at most one correction per item, so one row per item. A join,
    # not EXISTS: PostgreSQL answered EXISTS by hashing every correction in the store.
    select(*ITEM_COLUMNS, _CORRECTION.id.is_not(None).label("superseded"))
    .outerjoin(_CORRECTION, _CORRECTION.supersedes_id == EvidenceItem.id)
    .where(EvidenceItem.case_id == _CASE_ID)
    .order_by(EvidenceItem.id)
    .limit(TAB_PAGE)
    .offset(_OFFSET)
)
_CUSTODY = (
    select(*CUSTODY_COLUMNS)
    .where(CustodyEvent.item_id.in_(_IDS))
    .order_by(CustodyEvent.item_id, CustodyEvent.id)
)
_ITEMS_TOTAL = select(func.count()).where(EvidenceItem.case_id == _CASE_ID)
_FINDINGS_BY_KIND = (
    select(Finding.kind, func.count()).where(Finding.case_id == _CASE_ID).group_by(Finding.kind)
)
# How many other cases link each of the case's subjects: shared subjects are what an
# investigator looks at first (another case on the same campaign).
_others = (
    select(CaseSubject.subject_id, func.count(_OTHER.id).label("others"))
    .outerjoin(
        _OTHER,
        (_OTHER.subject_id == CaseSubject.subject_id) & (_OTHER.case_id != CaseSubject.case_id),
    )
    .where(CaseSubject.case_id == _CASE_ID)
    .group_by(CaseSubject.subject_id)
)
# Subjects by type and how many of each are shared, in one pass over the case's links (a
# campaign case has ten thousand: each pass is most of the tab's time).
_per_subject = _others.subquery()
_SUBJECTS_BY_TYPE = (
    select(
        Subject.type,
        func.count(),
        func.sum(case((_per_subject.c.others > 0, 1), else_=0)),
    )
    .join(_per_subject, _per_subject.c.subject_id == Subject.id)
    .group_by(Subject.type)
)


def _subjects_page(*where: Any) -> Any:
    others = _others.where(*where).subquery()
    return (
        select(Subject.id, Subject.type, Subject.value, others.c.others)
        .join(others, others.c.subject_id == Subject.id)
        .order_by(others.c.others.desc(), Subject.type, Subject.value)
        .limit(SUBJECT_PAGE)
        .offset(_OFFSET)
    )


_PAGE_SUBJECTS = _subjects_page()
_PAGE_SUBJECTS_OF_TYPE = _subjects_page(
    CaseSubject.subject_id.in_(select(Subject.id).where(Subject.type == _TYPE))
)
_OTHER_CASES = (
    select(CaseSubject.subject_id, Case.ref, Case.state)
    .join(Case, Case.id == CaseSubject.case_id)
    .where(CaseSubject.subject_id.in_(_IDS), CaseSubject.case_id != _CASE_ID)
    .order_by(CaseSubject.subject_id, Case.id.desc())
)


@dataclass(frozen=True)
class Summary:
    """The tab's first lines: what the case holds, by kind and by subject type."""

    findings_by_kind: dict[str, int]
    subjects_by_type: dict[str, int]
    findings_total: int
    subjects_total: int
    shared_subjects: int
    items_total: int


@dataclass(frozen=True)
class SubjectRow:
    id: int
    type: str
    value: str
    others: int  # how many other cases link it
    other_cases: list[Any]  # the first OTHER_CASES_SHOWN of them: (ref, state)


def _run(statement: Any, params: dict[str, Any]) -> Any:
    return db.session.connection().execute(statement, params)


def summary(case_id: int) -> Summary:
    bound = {"case_id": case_id}
    by_kind = dict(_run(_FINDINGS_BY_KIND, bound).all())
    types = _run(_SUBJECTS_BY_TYPE, bound).all()
    by_type = {kind: count for kind, count, _shared in types}
    return Summary(
        findings_by_kind={k: by_kind[k] for k in FINDING_KINDS if k in by_kind},
        subjects_by_type={t: by_type[t] for t in SUBJECT_TYPES if t in by_type},
        findings_total=sum(by_kind.values()),
        subjects_total=sum(by_type.values()),
        shared_subjects=sum(shared or 0 for _kind, _count, shared in types),
        items_total=_run(_ITEMS_TOTAL, bound).scalar_one(),
    )


def findings_page(case_id: int, page: int, kind: str | None = None) -> list[Any]:
    """(id, content_sha256) of one page of the case's findings, newest first."""
    bound = {"case_id": case_id, "offset": (page - 1) * TAB_PAGE, "kind": kind}
    return _run(_PAGE_FINDINGS_OF_KIND if kind else _PAGE_FINDINGS, bound).all()


def items_page(case_id: int, page: int) -> tuple[list[Any], dict[int, list[Any]]]:
    """One page of the case's files, and the custody events of each."""
    items = _run(_PAGE_ITEMS, {"case_id": case_id, "offset": (page - 1) * TAB_PAGE}).all()
    custody: dict[int, list[Any]] = {}
    if items:
        for event in _run(_CUSTODY, {"ids": [item.id for item in items]}):
            custody.setdefault(event.item_id, []).append(event)
    return items, custody


def subjects_page(case_id: int, page: int, subject_type: str | None = None) -> list[SubjectRow]:
    """One page of the case's subjects, those shared with other cases first."""
    bound = {"case_id": case_id, "offset": (page - 1) * SUBJECT_PAGE, "type": subject_type}
    rows = _run(_PAGE_SUBJECTS_OF_TYPE if subject_type else _PAGE_SUBJECTS, bound).all()
    shared_ids = [row.id for row in rows if row.others]
    named: dict[int, list[Any]] = {}
    if shared_ids:
        for other in _run(_OTHER_CASES, {"ids": shared_ids, "case_id": case_id}):
            kept = named.setdefault(other.subject_id, [])
            if len(kept) < OTHER_CASES_SHOWN:
                kept.append(other)
    return [
        SubjectRow(row.id, row.type, row.value, row.others, named.get(row.id, [])) for row in rows
    ]


def pages(total: int, per_page: int) -> int:
    return max(-(-total // per_page), 1)


# ---------------------------------------------------------------- inbox, item page
@dataclass(frozen=True)
class Inbox:
    rows: list[Any]  # (case, findings, latest ingestion, highest confidence)
    kinds: dict[int, list[str]]  # case id -> the kinds of its findings
    flagged: set[int]  # ids of cases with an open possible-duplicate flag


def inbox(limit: int) -> Inbox:
    """Newly reported cases that detectors opened, newest evidence first."""
    stats = (
        select(
            Finding.case_id,
            func.count(Finding.id).label("findings"),
            func.max(Finding.ingested_at).label("latest"),
            func.max(Finding.confidence).label("confidence"),
        )
        .group_by(Finding.case_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Case, stats.c.findings, stats.c.latest, stats.c.confidence)
        .join(stats, stats.c.case_id == Case.id)
        .where(Case.state == "reported")
        .order_by(stats.c.latest.desc(), Case.id.desc())
        .limit(limit)
    ).all()
    kinds: dict[int, list[str]] = {}
    case_ids = [row[0].id for row in rows]
    if case_ids:
        for case_id, kind in db.session.execute(
            select(Finding.case_id, Finding.kind)
            .where(Finding.case_id.in_(case_ids))
            .distinct()
            .order_by(Finding.kind)
        ):
            kinds.setdefault(case_id, []).append(kind)
    flagged = set()
    if case_ids:
        flagged = set(
            db.session.scalars(
                select(DuplicateFlag.case_id).where(
                    DuplicateFlag.case_id.in_(case_ids), DuplicateFlag.status == "open"
                )
            )
        )
    return Inbox(list(rows), kinds, flagged)


def superseded_by(item: EvidenceItem) -> EvidenceItem | None:
    """The later item that corrects this one, if any."""
    return db.session.scalar(select(EvidenceItem).where(EvidenceItem.supersedes_id == item.id))
