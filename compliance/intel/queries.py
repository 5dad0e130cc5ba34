"""What the Intel tab's share form reads: the case's subjects and findings as plain rows.

A campaign case offers ten thousand subjects and a thousand findings to choose from; the
form needs three or four columns of each, not mapped objects with their JSON.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sqlalchemy import select

from compliance.cases.models import SUBJECT_TYPES, CaseSubject, Subject
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.intel.stix import HASHED_TYPES


def subject_rows(case_id: int) -> list[Any]:
    """(id, type, value) of the case's subjects, by type and value."""
    return db.session.execute(
        select(Subject.id, Subject.type, Subject.value)
        .join(CaseSubject, CaseSubject.subject_id == Subject.id)
        .where(CaseSubject.case_id == case_id)
        .order_by(Subject.type, Subject.value)
    ).all()


def finding_rows(case_id: int) -> list[Any]:
    """(id, kind, observed_from, observed_to, detector_name) of the case's findings."""
    return db.session.execute(
        select(
            Finding.id,
            Finding.kind,
            Finding.observed_from,
            Finding.observed_to,
            Finding.detector_name,
        )
        .where(Finding.case_id == case_id)
        .order_by(Finding.observed_from, Finding.id)
    ).all()


def subject_groups(rows: list[Any]) -> list[tuple[str, bool, list[Any]]]:
    """Subjects grouped by type, shareable-as-hash types first: (type, hashed, rows)."""
    groups = {kind: list(group) for kind, group in groupby(rows, key=lambda row: row.type)}
    order = sorted(
        groups,
        key=lambda t: (t not in HASHED_TYPES, SUBJECT_TYPES.index(t) if t in SUBJECT_TYPES else 99),
    )
    return [(kind, kind in HASHED_TYPES, groups[kind]) for kind in order]
