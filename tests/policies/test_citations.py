"""Citing clauses against cases: the version in force, overrides, audit, the workflow guard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.cases.operations import transition_case
from compliance.errors import Conflict, InvalidInput, PermissionDenied, WorkflowRefused
from compliance.extensions import db
from compliance.policies.operations import (
    citations_for_case,
    cite_clause,
    clauses_in_force,
    find_clause,
    incident_window,
    versions_in_force,
    withdraw_citation,
)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def in_force_labels(case) -> list[str]:
    document = find_clause("api-terms@2026-03#4.2").version.document
    return [v.version for v in versions_in_force(document, incident_window(case))]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-09-01", "2025-10-15", ["2025-06"]),  # entirely before the change
        ("2025-09-01", "2026-02-28T23:59", ["2025-06"]),  # ends the day before
        ("2026-04-01", "2026-05-30", ["2026-03"]),  # entirely after
        ("2026-03-01", "2026-03-02", ["2026-03"]),  # starts on the day it took effect
        ("2026-02-15", "2026-03-10", ["2025-06", "2026-03"]),  # spans the change
        ("2026-02-20", "2026-03-01T00:00", ["2025-06", "2026-03"]),  # ends on the first day
        ("2024-01-01", "2024-02-01", []),  # before the first version existed
    ],
)
def test_version_in_force_across_the_change(app, library, make_case, start, end, expected):
    case = make_case(incident_start=at(start), incident_end=at(end))
    assert in_force_labels(case) == expected


def test_the_window_is_read_in_utc(app, library, make_case):
    # 23:30 in New York on 28 February is already 1 March in UTC.
    new_york = timezone(timedelta(hours=-5))
    case = make_case(
        incident_start=datetime(2026, 2, 28, 23, 30, tzinfo=new_york),
        incident_end=datetime(2026, 3, 5, tzinfo=UTC),
    )
    assert in_force_labels(case) == ["2026-03"]


def test_without_a_window_the_current_version_is_offered(app, library, make_case):
    case = make_case()
    window, documents = clauses_in_force(case, today=date(2026, 6, 1))
    assert not window.from_case
    assert [v.version for v in documents[0].versions] == ["2026-03"]
    window, documents = clauses_in_force(case, today=date(2025, 12, 1))
    assert [v.version for v in documents[0].versions] == ["2025-06"]


def test_a_window_spanning_a_change_shows_each_version_and_the_differences(app, library, make_case):
    case = make_case(incident_start=at("2026-02-01"), incident_end=at("2026-04-01"))
    window, documents = clauses_in_force(case)
    terms = documents[0]
    assert terms.spans_change
    (old, new, changes) = terms.changes[0]
    assert (old.version, new.version) == ("2025-06", "2026-03")
    assert {c.number: c.status for c in changes} == {"4.2": "changed", "4.3": "added"}


def test_citing_the_version_in_force_is_recorded_and_audited(app, library, make_case, actor_for):
    analyst = actor_for("analyst")
    case = make_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))
    clause = find_clause("api-terms@2026-03#4.2")

    citation = cite_clause(case, analyst, clause, "1.8M templated prompts from 212 accounts.")
    db.session.commit()

    assert citation.in_force and citation.override_reason is None
    assert citation.citation() == "API Terms v2026-03 §4.2 (effective 2026-03-01)"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clause.cited"))
    assert event.case_ref == case.ref
    assert event.actor == analyst.label
    assert event.details["citation"] == "API Terms v2026-03 §4.2 (effective 2026-03-01)"
    assert event.details["version_sha256"] == clause.version.sha256
    assert event.details["in_force"] is True


def test_citing_a_version_not_in_force_needs_an_override_reason(app, library, make_case, actor_for):
    counsel = actor_for("counsel")
    case = make_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))
    old_clause = find_clause("api-terms@2025-06#4.2")

    with pytest.raises(InvalidInput) as refused:
        cite_clause(case, counsel, old_clause, "Competing model trained on outputs.")
    assert "was not in force during the incident window (2026-04-01 to 2026-05-01)" in (
        refused.value.message
    )
    assert "in force: API Terms v2026-03" in refused.value.message
    db.session.rollback()

    citation = cite_clause(
        case,
        counsel,
        old_clause,
        "Competing model trained on outputs.",
        override_reason="The account signed up under the 2025 terms and never re-accepted.",
    )
    db.session.commit()
    assert not citation.in_force
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clause.cited"))
    assert event.details["in_force"] is False
    assert event.details["override_reason"].startswith("The account signed up")


def test_citation_needs_a_note_an_open_case_and_the_right_role(app, library, make_case, actor_for):
    case = make_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))
    clause = find_clause("api-terms@2026-03#4.2")
    with pytest.raises(InvalidInput) as refused:
        cite_clause(case, actor_for("analyst"), clause, "   ")
    assert refused.value.details == {"note": "say how the conduct breaks this clause"}
    with pytest.raises(PermissionDenied):
        cite_clause(case, actor_for("auditor"), clause, "A note.")
    analyst = actor_for("analyst")
    cite_clause(case, analyst, clause, "A note.")
    with pytest.raises(Conflict):
        cite_clause(case, analyst, clause, "The same clause again.")


def test_citing_against_an_evidence_item_of_another_case_is_refused(
    app, library, make_case, actor_for
):
    case = make_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))
    with pytest.raises(InvalidInput) as refused:
        cite_clause(
            case,
            actor_for("analyst"),
            find_clause("api-terms@2026-03#4.2"),
            "Templated prompts.",
            evidence_item_id=987654,
        )
    assert "evidence_item_id" in refused.value.details


def test_a_reference_must_name_document_version_and_clause(app, library):
    with pytest.raises(InvalidInput):
        find_clause("api-terms#4.2")
    with pytest.raises(Exception, match="has no clause 9.9"):
        find_clause("api-terms@2026-03#9.9")
    with pytest.raises(Exception, match="no version '2030-01'"):
        find_clause("api-terms@2030-01#4.2")


def test_withdrawing_a_citation_keeps_it_on_record(app, library, make_case, actor_for):
    analyst = actor_for("analyst")
    case = make_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))
    citation = cite_clause(case, analyst, find_clause("api-terms@2026-03#4.3"), "Training.")
    db.session.commit()

    with pytest.raises(InvalidInput):
        withdraw_citation(case, analyst, citation, "")
    withdraw_citation(case, analyst, citation, "No evidence of training yet.")
    db.session.commit()

    assert citations_for_case(case) == []
    assert citations_for_case(case, include_removed=True) == [citation]
    assert citation.removed_by == analyst.label
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clause.uncited"))
    assert event.details == {
        "citation": "API Terms v2026-03 §4.3 (effective 2026-03-01)",
        "reason": "No evidence of training yet.",
    }


def test_legal_review_needs_a_linked_clause(app, library, investigating_case, actor_for):
    counsel = actor_for("counsel")
    case = investigating_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))

    with pytest.raises(WorkflowRefused) as before:
        transition_case(case, "legal_review", counsel)
    assert "needs a linked clause" in before.value.message
    db.session.rollback()

    citation = cite_clause(case, counsel, find_clause("api-terms@2026-03#4.2"), "Templated.")
    db.session.commit()
    with pytest.raises(WorkflowRefused) as after:
        transition_case(case, "legal_review", counsel)
    assert "needs a linked clause" not in after.value.message
    db.session.rollback()

    withdraw_citation(case, counsel, citation, "Wrong clause.")
    db.session.commit()
    with pytest.raises(WorkflowRefused) as withdrawn:
        transition_case(case, "legal_review", counsel)
    assert "needs a linked clause" in withdrawn.value.message


def test_a_clause_cited_against_one_evidence_item(app, library, make_case, actor_for):
    from compliance.evidence.operations import add_evidence_file

    analyst = actor_for("analyst")
    case = make_case(incident_start=at("2026-04-01"), incident_end=at("2026-05-01"))
    other = make_case(title="Another campaign")
    item = add_evidence_file(
        case,
        analyst,
        name="prompt-templates.csv",
        media_type="text/csv",
        data=b"template,count\nExplain step by step,120000\n",
        description="Templates exported from the fingerprint cluster.",
    )
    foreign = add_evidence_file(
        other, analyst, name="x.txt", media_type="text/plain", data=b"x", description="Other."
    )
    db.session.commit()
    clause = find_clause("api-terms@2026-03#4.2")

    citation = cite_clause(case, analyst, clause, "Templates.", evidence_item_id=item.id)
    db.session.commit()
    assert citation.evidence_item_id == item.id
    # The same clause may also be cited for the case as a whole, but not twice for one item.
    cite_clause(case, analyst, clause, "Whole campaign.")
    with pytest.raises(Conflict):
        cite_clause(case, analyst, clause, "Again.", evidence_item_id=item.id)
    with pytest.raises(InvalidInput) as refused:
        cite_clause(case, analyst, clause, "Wrong case.", evidence_item_id=foreign.id)
    assert "is not part of" in refused.value.message
