"""Tampering with the stored log is detected: edits, deletions, reordering, a cut tail,
and a history recomputed from scratch (the last two only through a signed checkpoint)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from compliance.actor import Actor
from compliance.audit.chain import record, stored_row, verify_chain
from compliance.audit.models import AuditEvent
from compliance.audit.verify_export import GENESIS_HASH
from compliance.extensions import db
from compliance.trail.checkpoints import verify_against_checkpoint, write_checkpoint
from tests.audit.helpers import tamper, triggers_disabled


@pytest.fixture
def log(app, operator):
    """A log of ten events."""
    for number in range(10):
        record("test.event", actor=operator, object_type="test", object_id=number)
    db.session.commit()
    assert verify_chain().ok


def test_untouched_log_verifies(log):
    report = verify_chain()
    assert report.ok and report.count == 10 and report.head_seq == 10


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET payload = replace(payload, 'test.', 'x.')",
        "DELETE FROM audit_events",
    ],
)
def test_append_only_triggers_refuse_changes(log, statement):
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == 10


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_truncate_is_refused_on_postgresql(log):
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("TRUNCATE audit_events"))
    db.session.rollback()


def _edit_payload(seq: int, old: str, new: str) -> None:
    tamper(
        "UPDATE audit_events SET payload = replace(payload, :old, :new) WHERE seq = :seq",
        old=old,
        new=new,
        seq=seq,
    )


def test_edited_event_is_named(log):
    _edit_payload(4, '"object_id":"3"', '"object_id":"33"')
    report = verify_chain()
    assert not report.ok and report.bad_seq == 4
    assert "content" in report.problem


def test_index_columns_cannot_be_written(log):
    """They are generated from the hashed payload: even with the triggers off, no edit."""
    with pytest.raises(DBAPIError), triggers_disabled():
        db.session.execute(text("UPDATE audit_events SET actor = 'user:someone-else'"))
    db.session.rollback()
    assert verify_chain().ok


def test_index_column_turned_into_plain_data_is_detected(log, backend):
    """An attacker with DBA rights rebuilds a column as plain data to misattribute an event."""
    db.session.commit()
    with db.engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_events ALTER COLUMN actor DROP EXPRESSION"))
        else:
            ddl = conn.scalar(text("SELECT sql FROM sqlite_schema WHERE name = 'audit_events'"))
            plain = re.sub(r"(actor VARCHAR\(300\) NOT NULL) GENERATED [^\n]*STORED", r"\1", ddl)
            assert plain != ddl
            conn.execute(text(plain.replace("audit_events", "audit_forged", 1)))
            conn.execute(
                text(
                    "INSERT INTO audit_forged (seq, payload, hash, actor) "
                    "SELECT seq, payload, hash, actor FROM audit_events"
                )
            )
            conn.execute(text("DROP TABLE audit_events"))
            conn.execute(text("ALTER TABLE audit_forged RENAME TO audit_events"))
        conn.execute(text("UPDATE audit_events SET actor = 'user:someone-else' WHERE seq = 4"))
    db.session.rollback()  # a fresh snapshot, after the attacker's change
    report = verify_chain()
    assert not report.ok and "column actor is no longer generated" in report.problem


@pytest.mark.parametrize("bad_seq", [2, 9])
def test_two_processes_name_the_first_bad_event_in_either_half(log, bad_seq):
    assert verify_chain(processes=2).ok
    _edit_payload(bad_seq, f'"object_id":"{bad_seq - 1}"', '"object_id":"forged"')
    report = verify_chain(processes=2)
    assert not report.ok and report.bad_seq == bad_seq and report.count == bad_seq - 1
    assert "content" in report.problem


def test_two_processes_see_a_gap_at_the_split(log):
    tamper("DELETE FROM audit_events WHERE seq IN (5, 6)")
    report = verify_chain(processes=2)
    assert not report.ok and report.bad_seq == 7 and "expected seq=5" in report.problem


def test_deleted_event_is_detected(log):
    tamper("DELETE FROM audit_events WHERE seq = 3")
    report = verify_chain()
    assert not report.ok and report.bad_seq == 4
    assert "expected seq=3" in report.problem


def test_reordered_events_are_detected(log):
    with triggers_disabled():
        db.session.execute(text("UPDATE audit_events SET seq = 1000 WHERE seq = 5"))
        db.session.execute(text("UPDATE audit_events SET seq = 5 WHERE seq = 6"))
        db.session.execute(text("UPDATE audit_events SET seq = 6 WHERE seq = 1000"))
    report = verify_chain()
    assert not report.ok and report.bad_seq == 5


def test_cut_tail_passes_the_chain_but_not_the_checkpoint(log, operator):
    checkpoint = write_checkpoint(operator)  # seq 10; the checkpoint event itself is seq 11
    db.session.commit()
    document = _document(checkpoint)
    tamper("DELETE FROM audit_events WHERE seq >= 9")
    assert verify_chain().ok  # a chain alone cannot see a missing tail ...
    result = verify_against_checkpoint(document)
    assert not result.ok and result.bad_seq == 10  # ... the signed head can
    assert "truncated" in result.problem


def test_recomputed_history_is_caught_by_the_checkpoint(log, operator):
    checkpoint = write_checkpoint(operator)
    db.session.commit()
    document = _document(checkpoint)
    # The attacker edits event 2 and re-hashes everything after it: the chain is valid again.
    events = [
        {**row.record, "hash": row.hash}
        for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
    ]
    events[1]["actor"] = "user:someone-else"
    prev = GENESIS_HASH
    rows = []
    for event in events:
        event.pop("hash")
        event["prev_hash"] = prev
        row = stored_row(event)
        prev = row["hash"]
        rows.append(row)
    with triggers_disabled():
        db.session.execute(text("DELETE FROM audit_events"))
        db.session.execute(AuditEvent.__table__.insert(), rows)
    assert verify_chain().ok  # the chain alone is fooled by a full recomputation ...
    result = verify_against_checkpoint(document)
    assert not result.ok and result.bad_seq == 10  # ... the signed head is not
    assert "rewritten" in result.problem


def _document(checkpoint) -> dict:  # noqa: ANN001
    import json
    from pathlib import Path

    from flask import current_app

    return json.loads(
        (Path(current_app.config["CHECKPOINT_DIR"]) / checkpoint.file_name).read_text()
    )


def test_checkpoint_signed_by_another_key_is_refused(log, operator, tmp_path):
    checkpoint = write_checkpoint(operator)
    db.session.commit()
    document = _document(checkpoint)
    document["head_hash"] = "f" * 64
    document["signed"] = None
    result = verify_against_checkpoint(document)
    assert not result.ok and "signature" in result.problem


def test_cli_names_the_first_bad_event(app, log):
    from compliance.cli import main

    _edit_payload(7, '"action":"test.event"', '"action":"case.forged"')
    result = app.test_cli_runner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert "seq=7" in result.output


def test_cli_verify_with_checkpoint_detects_truncation(app, log):
    from compliance.cli import main

    runner = app.test_cli_runner()
    made = runner.invoke(main, ["audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    path = made.output.strip().splitlines()[-1]
    assert runner.invoke(main, ["audit", "verify", "--checkpoint", path]).exit_code == 0
    tamper("DELETE FROM audit_events WHERE seq >= 10")
    result = runner.invoke(main, ["audit", "verify", "--checkpoint", path])
    assert result.exit_code == 1
    assert "seq=10" in result.output and "truncated" in result.output


def test_system_actor_writes_checkpoints(log):
    checkpoint = write_checkpoint(Actor.system("audit-checkpoint"))
    db.session.commit()
    assert checkpoint.seq == 10
    assert db.session.scalar(
        select(AuditEvent.actor).where(AuditEvent.action == "audit.checkpoint")
    ) == ("system:audit-checkpoint")


def test_a_helper_that_cannot_run_leaves_the_check_to_this_process(log, monkeypatch):
    from compliance.audit import chain

    monkeypatch.setattr(
        chain, "_helper_job", lambda url: {"dialect": "sqlite", "path": "/nonexistent/audit.db"}
    )
    report = verify_chain(processes=2)
    assert report.ok and report.count == 10
    _edit_payload(8, '"object_id":"7"', '"object_id":"forged"')
    report = verify_chain(processes=2)
    assert not report.ok and report.bad_seq == 8


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_changed_time_function_is_detected(log):
    """occurred_at is generated through a function on PostgreSQL: replacing it is tampering."""
    db.session.execute(
        text(
            "CREATE OR REPLACE FUNCTION audit_payload_time(payload text) RETURNS timestamptz "
            "LANGUAGE sql IMMUTABLE AS $$ SELECT now() - interval '1 year' $$"
        )
    )
    db.session.commit()
    report = verify_chain()
    assert not report.ok and "audit_payload_time was changed" in report.problem
