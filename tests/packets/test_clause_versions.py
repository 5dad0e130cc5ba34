"""A packet cites the version in force; when the conduct spans versions, it shows the change."""

from __future__ import annotations

from datetime import UTC, datetime

from compliance import PROJECT_ROOT
from compliance.extensions import db
from compliance.packets.operations import _clauses
from compliance.policies.operations import cite_clause, find_clause, sync_policies


def test_conduct_spanning_two_versions_quotes_the_earlier_text(app, operator, make_case):
    sync_policies(operator, PROJECT_ROOT / "policies")
    case = make_case(
        incident_start=datetime(2026, 1, 10, tzinfo=UTC),
        incident_end=datetime(2026, 4, 1, tzinfo=UTC),
    )
    cite_clause(case, operator, find_clause("api-terms@2026-03#4.2"), "Scripted extraction.")
    db.session.commit()
    (citation,) = _clauses(case)
    assert citation.cite.startswith("API Terms v2026-03 §4.2")
    assert "In API Terms v2025-06 (in force from 2025-06-01) §4.2 read:" in citation.difference


def test_conduct_within_one_version_shows_no_difference(app, operator, make_case):
    sync_policies(operator, PROJECT_ROOT / "policies")
    case = make_case(
        incident_start=datetime(2026, 10, 1, tzinfo=UTC),
        incident_end=datetime(2026, 10, 18, tzinfo=UTC),
    )
    cite_clause(case, operator, find_clause("api-terms@2026-03#4.2"), "Scripted extraction.")
    db.session.commit()
    (citation,) = _clauses(case)
    assert citation.difference == ""
