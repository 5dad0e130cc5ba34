"""The policy library pages, the case's Clauses tab, and the scripting commands."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.cli import main
from compliance.extensions import db
from compliance.policies.models import ClauseCitation
from compliance.policies.operations import cite_clause, find_clause


def window(start: str, end: str) -> dict:
    return {
        "incident_start": datetime.fromisoformat(start).replace(tzinfo=UTC),
        "incident_end": datetime.fromisoformat(end).replace(tzinfo=UTC),
    }


def test_library_lists_documents_versions_clauses_and_diff(app, library, login_as):
    _, client = login_as("auditor")

    index = client.get("/policies/")
    assert index.status_code == 200
    assert b"Meridian AI API Terms of Service" in index.data
    assert b"Sync from policies/ folder" not in index.data  # auditors do not sync

    document = client.get("/policies/api-terms/")
    assert b"v2025-06" in document.data and b"2026-02-28" in document.data

    version = client.get("/policies/api-terms/2026-03/")
    assert b"Automated extraction" in version.data
    assert b"text matches" in version.data

    clause = client.get("/policies/api-terms/2026-03/4.2")
    assert "API Terms v2026-03 §4.2 (effective 2026-03-01)".encode() in clause.data
    assert b"<del>" in clause.data and b"<ins>" in clause.data  # changes from v2025-06

    diff = client.get("/policies/api-terms/diff?from=2025-06&to=2026-03")
    assert diff.status_code == 200
    assert b"<ins>Automated extraction</ins>" in diff.data
    assert b"Unchanged: \xc2\xa74" in diff.data


def test_clause_page_shows_citing_cases_only_to_case_readers(
    app, library, login_as, make_case, actor_for
):
    case = make_case(title="Coding sweep", **window("2026-04-01", "2026-05-01"))
    cite_clause(case, actor_for("analyst"), find_clause("api-terms@2026-03#4.2"), "Sweep.")
    db.session.commit()

    _, counsel = login_as("counsel")
    assert case.ref.encode() in counsel.get("/policies/api-terms/2026-03/4.2").data
    _, admin = login_as("admin")
    page = admin.get("/policies/api-terms/2026-03/4.2")
    assert page.status_code == 200 and case.ref.encode() not in page.data


def test_unknown_policy_pages_are_404(app, library, login_as):
    _, client = login_as("analyst")
    assert client.get("/policies/nope/").status_code == 404
    assert client.get("/policies/api-terms/2030-01/").status_code == 404
    assert client.get("/policies/api-terms/2026-03/9.9").status_code == 404


def test_admin_syncs_from_the_library_page(app, login_as, policy_folder):
    from tests.policies.conftest import two_versions

    two_versions(policy_folder)
    app.config["POLICIES_DIR"] = str(policy_folder.path)
    _, analyst = login_as("analyst")
    assert analyst.post("/policies/sync").status_code == 403
    _, admin = login_as("admin")
    response = admin.post("/policies/sync", follow_redirects=True)
    assert b"2 version(s) published" in response.data
    assert b"v2026-03" in response.data


def test_analyst_cites_a_clause_from_the_case_page(app, library, login_as, investigating_case):
    case = investigating_case(**window("2026-02-15", "2026-03-10"))
    _, client = login_as("analyst")

    tab = client.get(f"/cases/{case.ref}?tab=clauses")
    assert tab.status_code == 200
    assert b"The conduct spans 2 versions" in tab.data
    assert b"API Terms v2025-06 (effective 2025-06-01)" in tab.data
    assert b"needs a linked clause" in tab.data  # the blocked workflow step says why

    old = find_clause("api-terms@2025-06#4.2")
    response = client.post(
        f"/cases/{case.ref}/clauses",
        data={
            "clause_id": old.id,
            "note": "Outputs used to build a rival coding model.",
            "evidence_item_id": 0,
        },
        follow_redirects=True,
    )
    assert "Cited API Terms v2025-06 §4.2 (effective 2025-06-01)".encode() in response.data
    assert b"needs a linked clause" not in response.data


def test_citing_outside_the_window_needs_the_override_box_and_a_reason(
    app, library, login_as, make_case
):
    case = make_case(**window("2026-04-01", "2026-05-01"))
    _, client = login_as("counsel")
    old = find_clause("api-terms@2025-06#4.2")
    data = {"clause_id": old.id, "note": "Rival model.", "evidence_item_id": 0}

    refused = client.post(f"/cases/{case.ref}/clauses", data=data, follow_redirects=True)
    assert b"was not in force during the incident window" in refused.data
    assert db.session.scalar(select(ClauseCitation)) is None

    data |= {"override": "y", "override_reason": "Customer never accepted the 2026 terms."}
    accepted = client.post(f"/cases/{case.ref}/clauses", data=data, follow_redirects=True)
    assert b"override: Customer never accepted the 2026 terms." in accepted.data


def test_withdrawing_from_the_case_page(app, library, login_as, make_case, actor_for):
    case = make_case(**window("2026-04-01", "2026-05-01"))
    citation = cite_clause(
        case, actor_for("analyst"), find_clause("api-terms@2026-03#4.3"), "Training."
    )
    db.session.commit()
    _, auditor = login_as("auditor")
    assert auditor.post(f"/cases/{case.ref}/clauses/{citation.id}/withdraw").status_code == 403

    _, client = login_as("analyst")
    response = client.post(
        f"/cases/{case.ref}/clauses/{citation.id}/withdraw",
        data={"reason": "Cited by mistake."},
        follow_redirects=True,
    )
    assert b"Withdrawn citations (1)" in response.data
    assert b"Cited by mistake." in response.data


def test_link_clause_and_list_from_the_command_line(app, library, make_case, make_user):
    case = make_case(**window("2026-04-01", "2026-05-01"))
    analyst = make_user("analyst")
    runner = app.test_cli_runner()

    result = runner.invoke(
        main,
        [
            "case",
            "link-clause",
            case.ref,
            "api-terms@2026-03#4.2",
            "--note",
            "Sweep.",
            "--as",
            analyst.email,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "cited API Terms v2026-03 §4.2 (effective 2026-03-01)" in result.output
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clause.cited"))
    assert event.actor == f"user:{analyst.email}"

    refused = runner.invoke(
        main, ["case", "link-clause", case.ref, "api-terms@2025-06#4.2", "--note", "Old."]
    )
    assert refused.exit_code != 0
    assert "not in force during the incident window" in refused.output

    listing = runner.invoke(main, ["policies", "list"])
    assert "api-terms@2025-06\t2025-06-01 → 2026-02-28" in listing.output


def test_sync_from_the_command_line_refuses_a_bad_folder(app, policy_folder):
    policy_folder.add("api-terms/2026-03.md", effective_from="2026-13-01")
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["policies", "sync", "--path", str(policy_folder.path)])
    assert result.exit_code != 0
    assert "nothing stored" in result.output
    assert "policies/api-terms/2026-03.md" in result.output

    policy_folder.add("api-terms/2026-03.md")
    ok = runner.invoke(main, ["policies", "sync", "--path", str(policy_folder.path)])
    assert ok.exit_code == 0, ok.output
    assert "published api-terms@2026-03" in ok.output
