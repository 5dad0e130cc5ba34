"""Which versions were in force: the case's incident window, the versions covering it, and
the case's clauses tab (each document's versions in force and what changed between them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.policies.models import PolicyClause, PolicyDocument, PolicyVersion
from compliance.policies.operations.diffs import ClauseChange, version_diff
from compliance.policies.operations.lookups import list_documents


@dataclass(frozen=True)
class Window:
    """The days of the conduct, as the version-in-force rules compare them (UTC dates)."""

    start: date
    end: date
    from_case: bool  # False: the case has no incident window, so "today" stands in

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def incident_window(case: Case, today: date | None = None) -> Window:
    """The incident window as dates; an open-ended window runs to today."""
    today = today or utcnow().date()

    def day(value: datetime | None) -> date | None:
        return value.astimezone(UTC).date() if value is not None else None

    start, end = day(case.incident_start), day(case.incident_end)
    if start is None and end is None:
        return Window(today, today, from_case=False)
    start = start or end
    end = end or max(start, today)
    return Window(start, end, from_case=True)


def versions_in_force(document: PolicyDocument, window: Window) -> list[PolicyVersion]:
    """The versions in force on at least one day of the window, oldest first.

    Without an incident window the current version is offered; if none is in force today
    (all are future or withdrawn), the newest is.
    """
    found = [v for v in document.versions if v.covers(window.start, window.end)]
    if not found and not window.from_case and document.versions:
        found = [document.versions[-1]]
    return found


def is_in_force(clause: PolicyClause, window: Window) -> bool:
    return clause.version in versions_in_force(clause.version.document, window)


@dataclass(frozen=True)
class DocumentInForce:
    """One document as the case's clauses tab shows it: its versions in force and changes."""

    document: PolicyDocument
    versions: list[PolicyVersion]
    changes: list[tuple[PolicyVersion, PolicyVersion, list[ClauseChange]]]

    @property
    def spans_change(self) -> bool:
        return len(self.versions) > 1


def clauses_in_force(case: Case, today: date | None = None) -> tuple[Window, list[DocumentInForce]]:
    """For each document, the versions in force during the case's window and their diffs."""
    window = incident_window(case, today)
    result = []
    for document in list_documents():
        versions = versions_in_force(document, window)
        changes = [
            (old, new, [c for c in version_diff(old, new) if c.status != "unchanged"])
            for old, new in zip(versions, versions[1:], strict=False)
        ]
        result.append(DocumentInForce(document, versions, changes))
    return window, result
