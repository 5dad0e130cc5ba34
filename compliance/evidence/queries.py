"""What the evidence pages ask, as queries (views load -> check -> act -> respond)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from compliance.cases.models import Case
from compliance.evidence.models import DuplicateFlag, EvidenceItem, Finding
from compliance.extensions import db


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
