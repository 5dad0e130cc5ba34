"""A script sets a case's details and reads them back with the CLI, as the web form would.

`case create` and `case edit` call the web form's operations: the same rules (who may own a
case, lengths, the incident window), the same version check and the same audit event.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.cases import operations
from compliance.cases.models import Case
from compliance.errors import InvalidInput
from compliance.extensions import db
from tests.security.helpers import run_cli


def reload(case: Case) -> Case:
    db.session.commit()  # the command wrote in its own session
    db.session.expire_all()
    return db.session.get(Case, case.id)


def last_event(case: Case) -> AuditEvent:
    return db.session.scalar(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq.desc())
    )


def test_an_analyst_assigns_an_owner_and_writes_the_summary_then_the_guards_pass(
    app, make_case, make_user
):
    """The two guards that once needed the web form: an owner, then a summary."""
    analyst = make_user("analyst")
    case = make_case()
    moved = run_cli(app, "case", "transition", case.ref, "triage", "--as", analyst.email)
    assert moved.exit_code == 0, moved.output
    refused = run_cli(app, "case", "transition", case.ref, "investigating", "--as", analyst.email)
    assert refused.exit_code == 1 and "needs an owner" in refused.output

    edited = run_cli(
        app,
        "case",
        "edit",
        case.ref,
        "--owner",
        analyst.email,
        "--suspected-actor",
        "Lattice Labs",
        "--jurisdiction",
        "US (N.D. Cal.)",
        "--severity",
        "critical",
        "--as",
        analyst.email,
    )
    assert edited.exit_code == 0, edited.output
    assert f"{case.ref}: changed" in edited.output
    case = reload(case)
    assert case.owner_id == analyst.id and case.severity == "critical"
    assert (case.suspected_actor, case.jurisdiction) == ("Lattice Labs", "US (N.D. Cal.)")
    event = last_event(case)
    assert event.action == "case.updated" and event.actor == f"user:{analyst.email}"
    assert event.changes["owner_id"] == {"before": None, "after": analyst.id}

    moved = run_cli(app, "case", "transition", case.ref, "investigating", "--as", analyst.email)
    assert moved.exit_code == 0, moved.output

    summary = "212 accounts sent templated coding prompts.\n\nSee the evidence tab."
    edited = run_cli(
        app, "case", "edit", case.ref, "--summary", "-", "--as", analyst.email, input=summary
    )
    assert edited.exit_code == 0, edited.output
    assert reload(case).summary == summary
    # The summary guard of investigating -> legal_review no longer names the summary.
    refused = run_cli(app, "case", "transition", case.ref, "legal_review", "--as", analyst.email)
    assert refused.exit_code == 1 and "summary" not in refused.output


def test_case_create_opens_a_reported_case_and_prints_it_as_json(app, make_user):
    analyst = make_user("analyst")
    result = run_cli(
        app,
        "case",
        "create",
        "--title",
        "Coverage sweep across mathematics",
        "--owner",
        analyst.email,
        "--confidence",
        "0.8",
        "--incident-start",
        "2026-10-01",
        "--incident-end",
        "2026-10-18T23:59:59Z",
        "--domain",
        "mathematics",
        "--domain",
        "science",
        "--json",
        "--as",
        analyst.email,
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["ref"].startswith("DIST-") and shown["state"] == "reported"
    assert shown["owner"] == analyst.email and shown["confidence"] == 0.8
    assert shown["targeted_domains"] == ["mathematics", "science"]
    assert shown["incident_start"].startswith("2026-10-01T00:00:00")
    db.session.commit()  # end this session's read snapshot: the command wrote in its own
    case = db.session.scalar(select(Case).where(Case.ref == shown["ref"]))
    created = db.session.scalar(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == "case.created")
    )
    assert created.actor == f"user:{analyst.email}"


def test_case_show_json_is_what_the_api_answers(app, make_case, make_user, login_as):
    case = make_case(summary="Templated prompts", jurisdiction="EU")
    shown = run_cli(app, "case", "show", case.ref, "--json")
    assert shown.exit_code == 0, shown.output
    _, client = login_as("auditor")
    answered = client.get(f"/api/v1/cases/{case.ref}").json
    assert json.loads(shown.stdout) == {k: v for k, v in answered.items() if k != "url"}
    text = run_cli(app, "case", "show", case.ref)
    assert f"ref: {case.ref}" in text.output and "state: reported" in text.output


def test_the_rules_of_the_web_form_hold_from_the_cli(app, make_case, make_user):
    analyst, auditor = make_user("analyst"), make_user("auditor")
    case = make_case()
    before = case.version

    def edit(*args: str):
        return run_cli(app, "case", "edit", case.ref, *args, "--as", analyst.email)

    # Only an active analyst or counsel may own a case (the web form offers no one else).
    result = edit("--owner", auditor.email)
    assert result.exit_code == 2 and f"owner: no active analyst or counsel {auditor.email}" in (
        result.output
    )
    result = edit("--title", "x" * 301)
    assert result.exit_code == 2 and "title: at most 300 characters" in result.output
    result = edit("--confidence", "7")
    assert result.exit_code == 2 and "confidence: between 0 and 1" in result.output
    # A rule across two fields names both.
    result = edit("--incident-start", "2026-10-18", "--incident-end", "2026-10-01")
    assert result.exit_code == 2
    assert "incident_start:" in result.output and "incident_end:" in result.output
    result = edit()
    assert result.exit_code == 2 and "nothing to change" in result.output
    # The role rules: an auditor changes nothing.
    result = run_cli(app, "case", "edit", case.ref, "--title", "New", "--as", auditor.email)
    assert result.exit_code == 1
    assert reload(case).version == before  # nothing was written


def test_a_stale_version_is_refused_not_overwritten(app, make_case, make_user):
    analyst = make_user("analyst")
    case = make_case(title="Original")
    read = json.loads(run_cli(app, "case", "show", case.ref, "--json").stdout)["version"]
    first = run_cli(
        app, "case", "edit", case.ref, "--title", "Theirs", "--expect-version", str(read)
    )
    assert first.exit_code == 0, first.output
    mine = run_cli(
        app,
        "case",
        "edit",
        case.ref,
        "--title",
        "Mine",
        "--expect-version",
        str(read),
        "--as",
        analyst.email,
    )
    assert mine.exit_code == 1 and "changed by someone else" in mine.output
    assert reload(case).title == "Theirs"


def test_the_owner_rule_is_the_operations_own(app, make_case, make_user):
    """The web form offered only analysts and counsel; now the operation itself refuses."""
    auditor = make_user("auditor")
    case = make_case()
    with pytest.raises(InvalidInput) as refused:
        operations.update_case(case, Actor.cli_operator(), {"owner_id": auditor.id})
    assert refused.value.details == {"owner_id": "the owner must be an active analyst or counsel"}


def test_approving_several_actions_repeats_the_documented_option(app):
    result = run_cli(app, "case", "transition", "--help")
    assert "--action takedown --action referral" in " ".join(result.output.split())
