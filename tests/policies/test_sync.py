"""Loading policies/ into the library: immutable versions, refusals, and date reports."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select, text

from compliance import PROJECT_ROOT
from compliance.audit.models import AuditEvent
from compliance.errors import InvalidInput, PermissionDenied
from compliance.extensions import db
from compliance.policies.models import PolicyClause, PolicyDocument, PolicyVersion
from compliance.policies.operations import get_version, sync_policies
from compliance.policies.parsing import parse_policy_text
from tests.policies.conftest import policy_text, two_versions


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_lab_policies_load_with_their_clauses(app, operator):
    report = sync_policies(operator, PROJECT_ROOT / "policies")
    db.session.commit()

    assert sorted(report.published) == [
        "api-terms@2025-06",
        "api-terms@2026-03",
        "usage-policy@2025-01",
        "usage-policy@2026-01",
    ]
    assert report.warnings == []
    clause = get_version("api-terms", "2026-03").clause("4.2")
    assert clause.heading == "Automated extraction"
    assert clause.citation() == "API Terms v2026-03 §4.2 (effective 2026-03-01)"
    old = get_version("api-terms", "2025-06")
    assert old.effective_to.isoformat() == "2026-02-28"
    assert "develop models that compete" in old.clause("4.2").text


def test_sync_twice_stores_nothing_new(app, operator, policy_folder):
    two_versions(policy_folder)
    sync_policies(operator, policy_folder.path)
    db.session.commit()
    counts = (_count(PolicyDocument), _count(PolicyVersion), _count(PolicyClause))
    events = _count(AuditEvent)

    again = sync_policies(operator, policy_folder.path)
    db.session.commit()

    assert again.published == []
    assert sorted(again.unchanged) == ["api-terms@2025-06", "api-terms@2026-03"]
    assert (_count(PolicyDocument), _count(PolicyVersion), _count(PolicyClause)) == counts
    assert _count(AuditEvent) == events  # a sync that changes nothing writes nothing


def test_version_keeps_full_text_and_hash_of_the_file(app, operator, policy_folder):
    path = policy_folder.add("api-terms/2026-03.md")
    sync_policies(operator, policy_folder.path)
    db.session.commit()

    stored = get_version("api-terms", "2026-03")
    assert stored.full_text == path.read_text()
    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stored.hash_matches()
    assert stored.source_path == "policies/api-terms/2026-03.md"
    published = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "policy.version_published")
    )
    assert published.details["sha256"] == stored.sha256


def test_a_changed_published_version_is_refused_and_nothing_is_stored(app, operator, policy_folder):
    two_versions(policy_folder)
    sync_policies(operator, policy_folder.path)
    db.session.commit()
    original = get_version("api-terms", "2025-06").sha256
    edited = policy_folder.path / "api-terms" / "2025-06.md"
    edited.write_text(edited.read_text().replace("compete with us", "compete with Meridian"))
    policy_folder.add("api-terms/2026-09.md", version="2026-09", effective_from="2026-09-01")

    with pytest.raises(InvalidInput) as refused:
        sync_policies(operator, policy_folder.path)
    db.session.rollback()

    assert "published version was changed" in refused.value.message
    problem = refused.value.details["policies/api-terms/2025-06.md"]
    assert "api-terms version 2025-06" in problem and "add a new version" in problem
    assert get_version("api-terms", "2025-06").sha256 == original
    assert _count(PolicyVersion) == 2  # the new 2026-09 file was not stored either


def test_stored_versions_cannot_be_edited_in_the_database(app, operator, library):
    version = get_version("api-terms", "2026-03")
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(
            text("UPDATE policy_versions SET full_text = 'x' WHERE id = :id"), {"id": version.id}
        )
    db.session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(text("DELETE FROM policy_clauses"))
    db.session.rollback()


def test_a_new_version_updates_the_document_and_its_review_date(app, operator, library):
    document = get_version("api-terms", "2026-03").document
    assert document.next_review_on.isoformat() == "2027-03-01"
    library.add(
        "api-terms/2026-09.md",
        version="2026-09",
        effective_from="2026-09-01",
        owner="jordan.mehta@lab.example",
    )

    report = sync_policies(operator, library.path)
    db.session.commit()

    assert report.published == ["api-terms@2026-09"]
    assert report.documents_updated == ["api-terms"]
    assert document.owner == "jordan.mehta@lab.example"
    assert document.next_review_on.isoformat() == "2027-09-01"
    assert get_version("api-terms", "2026-03").effective_to.isoformat() == "2026-08-31"


def test_only_admins_and_the_operator_sync(app, actor_for, policy_folder):
    two_versions(policy_folder)
    with pytest.raises(PermissionDenied):
        sync_policies(actor_for("counsel"), policy_folder.path)
    report = sync_policies(actor_for("admin"), policy_folder.path)
    assert len(report.published) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"owner": None}, "front matter field 'owner' is missing"),
        ({"effective_from": "2026-02-30"}, "'2026-02-30' is not a real calendar date"),
        ({"effective_from": "01/03/2026"}, "not a date in the form YYYY-MM-DD"),
        ({"efective_to": "2026-12-31"}, "unknown front matter field(s): efective_to"),
        ({"document": "API Terms"}, "must be lower-case letters"),
        ({"effective_to": "2026-01-01"}, "effective_to is before effective_from"),
    ],
)
def test_bad_front_matter_names_the_file_and_stores_nothing(
    app, operator, policy_folder, change, expected
):
    policy_folder.add("usage-policy/2026-01.md", document="usage-policy", version="2026-01")
    policy_folder.add("api-terms/2026-03.md", **change)

    with pytest.raises(InvalidInput) as refused:
        sync_policies(operator, policy_folder.path)
    db.session.rollback()

    assert "nothing stored" in refused.value.message
    assert expected in refused.value.details["policies/api-terms/2026-03.md"]
    assert "policies/usage-policy/2026-01.md" not in refused.value.details
    assert _count(PolicyVersion) == 0 and _count(PolicyDocument) == 0


def test_two_files_claiming_the_same_version_are_refused(app, operator, policy_folder):
    policy_folder.add("api-terms/2026-03.md")
    policy_folder.add("api-terms/2026-03-copy.md")

    with pytest.raises(InvalidInput) as refused:
        sync_policies(operator, policy_folder.path)

    problem = refused.value.details["policies/api-terms/2026-03.md"]
    assert "also claimed by policies/api-terms/2026-03-copy.md" in problem
    db.session.rollback()
    assert _count(PolicyVersion) == 0


def test_a_clause_number_repeated_in_one_document_is_refused(app, operator, policy_folder):
    policy_folder.write(
        "api-terms/2026-03.md",
        policy_text() + "\n## 4.2 Automated extraction again\n\nSecond text.\n",
    )
    with pytest.raises(InvalidInput) as refused:
        sync_policies(operator, policy_folder.path)
    assert "clause 4.2 appears twice" in refused.value.details["policies/api-terms/2026-03.md"]


def test_a_file_without_front_matter_or_clauses_is_refused(app, operator, policy_folder):
    policy_folder.write("api-terms/notes.md", "# Some notes\n\nNo front matter here.\n")
    policy_folder.add("api-terms/2026-03.md", clauses={})
    policy_folder.write(
        "api-terms/2026-04.md", policy_text(version="2026-04").replace("## 4", "## Section")
    )
    with pytest.raises(InvalidInput) as refused:
        sync_policies(operator, policy_folder.path)
    details = refused.value.details
    assert "does not start with front matter" in details["policies/api-terms/notes.md"]
    assert "no numbered clauses" in details["policies/api-terms/2026-04.md"]


def test_overlapping_and_gapped_dates_are_reported(app, operator, policy_folder):
    policy_folder.add(
        "api-terms/2025-06.md",
        version="2025-06",
        effective_from="2025-06-01",
        effective_to="2025-12-31",
    )
    policy_folder.add("api-terms/2026-03.md", version="2026-03", effective_from="2026-03-01")
    policy_folder.add("api-terms/2026-03b.md", version="2026-03b", effective_from="2026-03-01")

    report = sync_policies(operator, policy_folder.path)

    assert report.warnings == [
        "api-terms: gap: no version in force from 2026-01-01 to 2026-02-28 "
        "(between v2025-06 and v2026-03)",
        "api-terms: overlap: v2026-03 and v2026-03b both take effect on 2026-03-01",
    ]
    assert len(report.published) == 3  # reported, not refused: counsel decides what to fix


def test_headings_inside_code_blocks_are_not_clauses():
    raw = policy_text(
        clauses={"1": ("Scope", "Example:\n\n```\n## 9.9 Not a clause\n```\n")}
    ).encode()
    parsed = parse_policy_text(raw, "policies/x.md")
    assert [c.number for c in parsed.clauses] == ["1"]
    assert "## 9.9 Not a clause" in parsed.clauses[0].text
