"""The `compliance` command, run as an operator would, against a scratch instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from compliance.audit.models import AuditEvent
from compliance.auth.models import ApiToken, User
from compliance.auth.tokens import token_digest
from compliance.extensions import db

BIN = Path(sys.executable).parent / "compliance"


@pytest.fixture
def cli_env(app, app_config, tmp_path) -> dict[str, str]:
    """Environment pointing every command at this test's database and folders."""
    return {
        **os.environ,
        "COMPLIANCE_DATABASE_URL": app_config["DATABASE_URL"],
        "COMPLIANCE_EVIDENCE_DIR": app_config["EVIDENCE_DIR"],
        "COMPLIANCE_INSTANCE_PATH": app_config["INSTANCE_PATH"],
        "COMPLIANCE_CHECKPOINT_DIR": app_config["CHECKPOINT_DIR"],
    }


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # works from any directory
    )


def test_users_create_reads_the_password_from_stdin(app, cli_env):
    result = run(
        cli_env,
        "users",
        "create",
        "pat@lab.example",
        "--role",
        "counsel",
        stdin="a long enough password\n",
    )
    assert result.returncode == 0, result.stderr
    user = db.session.scalar(select(User).where(User.email == "pat@lab.example"))
    assert user.role == "counsel" and user.check_password("a long enough password")
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))
    assert event.action == "user.created" and event.actor.startswith("cli:")


def test_an_admin_changes_a_role_and_it_is_audited(app, cli_env, make_user):
    user = make_user("analyst")
    admin, second_admin = make_user("admin"), make_user("admin")
    result = run(cli_env, "users", "set-role", user.email, "counsel", "--as", admin.email)
    assert result.returncode == 0, result.stderr
    assert "once another admin confirms" in result.stdout
    db.session.commit()  # end this session's read snapshot: the command wrote in another process
    assert db.session.get(User, user.id).role == "analyst"  # counsel takes two admins
    grant_id = result.stdout.split()[1].rstrip(":")
    refused = run(cli_env, "users", "confirm-grant", grant_id, "--as", admin.email)
    assert refused.returncode != 0 and "four-eyes" in refused.stderr
    confirmed = run(cli_env, "users", "confirm-grant", grant_id, "--as", second_admin.email)
    assert confirmed.returncode == 0, confirmed.stderr
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).role == "counsel"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.role_changed"))
    assert event.changes["role"] == {"before": "analyst", "after": "counsel"}
    assert event.actor == f"user:{second_admin.email}"


def test_an_admin_creating_a_user_prints_an_invitation_not_a_password(app, cli_env, make_user):
    admin = make_user("admin")
    result = run(
        cli_env, "users", "create", "kim@lab.example", "--role", "analyst", "--as", admin.email
    )
    assert result.returncode == 0, result.stderr
    assert "/invite/" in result.stdout.splitlines()[-1]
    db.session.commit()
    user = db.session.scalar(select(User).where(User.email == "kim@lab.example"))
    assert user.active and user.password_hash == "!"  # no password until they choose one


def test_failures_exit_non_zero_with_one_line(app, cli_env):
    result = run(
        cli_env,
        "users",
        "create",
        "not-an-email",
        "--role",
        "analyst",
        stdin="a long enough password\n",
    )
    assert result.returncode != 0
    assert "not an e-mail address" in result.stderr


def test_tokens_create_prints_the_token_alone_on_the_last_line(app, cli_env):
    result = run(cli_env, "tokens", "create", "query-fingerprint detector", "--scope", "ingest")
    assert result.returncode == 0, result.stderr
    raw = result.stdout.strip().splitlines()[-1]
    assert raw.startswith("cmp_") and " " not in raw
    token = db.session.scalar(select(ApiToken))
    assert token.token_hash == token_digest(raw) and raw not in token.token_hash  # stored hashed
    listing = run(cli_env, "tokens", "list")
    assert "query-fingerprint detector" in listing.stdout and raw not in listing.stdout


def test_case_transition_as_a_user_applies_role_rules(app, cli_env, make_case, make_user):
    case = make_case()
    auditor = make_user("auditor")
    refused = run(cli_env, "case", "transition", case.ref, "triage", "--as", auditor.email)
    assert refused.returncode != 0 and "only analyst or counsel" in refused.stderr
    analyst = make_user("analyst")
    moved = run(cli_env, "case", "transition", case.ref, "triage", "--as", analyst.email)
    assert moved.returncode == 0, moved.stderr
    assert f"{case.ref}: reported -> triage" in moved.stdout


def test_audit_verify_detects_a_row_altered_behind_the_triggers(app, cli_env, make_case, backend):
    make_case(title="Original title")
    ok = run(cli_env, "audit", "verify")
    assert ok.returncode == 0 and "audit chain OK" in ok.stdout
    with db.engine.begin() as conn:
        forge = (
            'UPDATE audit_events SET payload = replace(payload, \'"action":"\', '
            '\'"action":"forged.\') WHERE seq = 1'
        )
        if backend == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text(forge))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text(forge))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    broken = run(cli_env, "audit", "verify")
    assert broken.returncode != 0 and "seq=1" in broken.stderr


def test_triggers_refuse_editing_or_deleting_audit_rows(app, make_case, backend):
    from sqlalchemy.exc import DatabaseError

    make_case()
    for statement in (
        "UPDATE audit_events SET payload = replace(payload, 'user:', 'x:')",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    if backend == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events"))


def test_demo_is_idempotent(app, cli_env):
    first = run(cli_env, "demo")
    assert first.returncode == 0, first.stderr
    counts = {
        table: db.session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
        for table in ("users", "cases")
    }
    second = run(cli_env, "demo")
    assert second.returncode == 0, second.stderr
    db.session.commit()
    assert counts == {
        table: db.session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
        for table in ("users", "cases")
    }
    assert "already present" in second.stdout
