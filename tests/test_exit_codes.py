"""One table of exit codes, the same for every command (README "Exit codes").

0 done; 1 refused by a rule or a check found a problem; 2 bad usage or invalid input; 3 the
system could not do it. Scripts branch on these, so each is proven on real commands.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from compliance import errors
from compliance.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_REFUSED, exit_code_for
from tests.security.helpers import run_cli

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_codes() -> dict[int, str]:
    section = README.read_text(encoding="utf-8").split("#### Exit codes\n", 1)[1]
    rows = re.findall(r"^\| (\d) \| ([^|]+) \|", section.split("\n\n", 2)[1], re.M)
    return {int(code): meaning.strip() for code, meaning in rows}


def test_the_readme_documents_each_code_the_commands_use():
    documented = documented_codes()
    assert sorted(documented) == [EXIT_OK, EXIT_REFUSED, EXIT_INVALID, EXIT_FAILED] == [0, 1, 2, 3]
    assert documented[1].startswith("refused by a rule")
    assert documented[2].startswith("bad usage or invalid input")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.WorkflowRefused, 1),
        (errors.PermissionDenied, 1),
        (errors.Conflict, 1),
        (errors.Unauthorized, 1),
        (errors.InvalidInput, 2),
        (errors.NotFound, 2),
        (errors.MalformedJSON, 2),
        (errors.BodyTooLarge, 2),
        (errors.UnsupportedMediaType, 2),
        (errors.InsufficientStorage, 3),
    ],
)
def test_every_kind_of_refusal_has_its_code(error, code):
    assert exit_code_for(error("refused")) == code


def test_each_code_on_real_commands(app, make_case, make_user, monkeypatch):
    from compliance.cases import operations

    analyst, auditor = make_user("analyst"), make_user("auditor")
    case = make_case()

    def code(*args: str) -> tuple[int, str]:
        result = run_cli(app, *args)
        return result.exit_code, result.output

    assert code("case", "show", case.ref)[0] == 0
    # 1: a rule refused it.
    status, output = code("case", "transition", case.ref, "legal_review", "--as", analyst.email)
    assert status == 1 and "cannot move" in output
    status, output = code("case", "transition", case.ref, "triage", "--as", auditor.email)
    assert status == 1 and "only analyst or counsel" in output
    status, output = code("case", "transition", case.ref, "dismissed")
    assert status == 1 and "needs a reason" in output
    # 2: bad usage or invalid input.
    assert code("case", "show", case.ref, "--bogus")[0] == 2
    assert code("case", "transition", case.ref)[0] == 2
    status, output = code("case", "show", "DIST-1999-9999")
    assert status == 2 and "no case DIST-1999-9999" in output
    status, output = code("case", "edit", case.ref, "--confidence", "7")
    assert status == 2 and "confidence: between 0 and 1" in output
    status, output = code("case", "note", case.ref, "--text", "x", "--as", "nobody@lab.example")
    assert status == 2 and "no active user nobody@lab.example" in output
    assert code("packet", "mark-sent", "999", "--recipient", "x", "--channel", "email")[0] == 2
    status, output = code(
        "packet", "mark-sent", "1", "--recipient", "x", "--channel", "email", "--on", "May 1"
    )
    assert status == 2 and "not a date" in output
    assert code("users", "set-role", "nobody@lab.example", "analyst")[0] == 2

    # 3: the system could not do it.
    def disk_full(*args, **kwargs):
        raise errors.InsufficientStorage("the evidence store is full")

    monkeypatch.setattr(operations, "add_note", disk_full)
    status, output = code("case", "note", case.ref, "--text", "x")
    assert status == 3 and "the evidence store is full" in output

    def database_gone(ref: str):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(operations, "get_case", database_gone)
    status, output = code("case", "show", case.ref)
    assert status == 3 and "the database is unavailable: connection refused" in output


def test_commands_outside_a_transaction_exit_by_the_same_table(app, tmp_path):
    """`audit verify` handles its own checks; an unreadable checkpoint is still invalid input."""
    bad = tmp_path / "checkpoint.json"
    bad.write_text("not json")
    result = run_cli(app, "audit", "verify", "--checkpoint", str(bad))
    assert result.exit_code == 2 and "cannot read checkpoint" in result.output
    help_text = run_cli(app, "--help").output
    for code in ("0  done", "1  refused by a rule", "2  bad usage", "3  the system could not"):
        assert code in help_text


def test_link_clause_on_a_fresh_instance_says_to_sync_the_policies_first(app, make_case):
    case = make_case()
    result = run_cli(
        app, "case", "link-clause", case.ref, "api-terms@2026-03#4.2", "--note", "breach"
    )
    assert result.exit_code == 2
    assert "run `compliance policies sync` first" in result.output
    synced = run_cli(app, "policies", "sync")
    assert synced.exit_code == 0, synced.output
    result = run_cli(
        app, "case", "link-clause", case.ref, "api-terms@2026-03#4.2", "--note", "breach"
    )
    assert result.exit_code == 0, result.output
