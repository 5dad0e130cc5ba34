"""Migrations: one head, upgrade from empty, no drift from the models, down and up again."""

from __future__ import annotations

import re

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, create_engine, func, insert, inspect, select, text
from sqlalchemy.exc import DatabaseError

from compliance.db import Base, configure_engine, utcnow
from compliance.migrate import alembic_config, downgrade, include_name, upgrade


def test_single_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def _drift(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    return differences


def test_upgrade_from_empty_matches_the_models(database_url):
    # database_url is already migrated from empty (the per-test template is built that way).
    assert _drift(database_url) == []
    engine = create_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"cases", "users", "audit_events", "case_transitions"} <= tables


def test_downgrade_to_base_and_upgrade_again(database_url):
    downgrade(database_url, "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(database_url)
    assert _drift(database_url) == []


def test_alembic_check_reports_no_pending_changes(database_url):
    command.check(alembic_config(database_url))


def _signature(sql: str) -> tuple[frozenset[str], frozenset[str]]:
    """What a CHECK allows, comparable across databases: its quoted values and its numbers.

    PostgreSQL prints a constraint back in its own words (`(state)::text = ANY (ARRAY[...])`
    for `state IN (...)`), so the texts differ; the values they admit must not.
    """
    quoted = re.findall(r"'((?:[^']|'')*)'", sql)
    unquoted = re.sub(r"'(?:[^']|'')*'", "", sql)
    return frozenset(quoted), frozenset(re.findall(r"\b\d+\b", unquoted))


def _migrated_checks(url: str) -> dict[str, tuple]:
    engine = create_engine(url)
    inspector = inspect(engine)
    found = {
        check["name"]: _signature(check["sqltext"])
        for table in inspector.get_table_names()
        for check in inspector.get_check_constraints(table)
    }
    engine.dispose()
    return found


def _modelled_checks() -> dict[str, tuple]:
    return {
        constraint.name: _signature(str(constraint.sqltext))
        for table in Base.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }


def test_check_constraints_match_the_models(database_url):
    # Autogenerate does not compare CHECK constraints: a value added to a model's tuple without
    # a revision that replaces the constraint is caught here.
    assert _modelled_checks(), "the models declare CHECK constraints"
    assert _migrated_checks(database_url) == _modelled_checks()


def test_constraints_come_and_go_with_0002_and_keep_the_data(database_url):
    """Down to 0001 and up again: the constraints go and return, and no row is lost.

    On SQLite batch mode recreates each table; with foreign keys on, dropping the old `cases`
    would cascade into its transitions and notes (env.py turns them off while migrating).
    """
    engine = create_engine(database_url)
    configure_engine(engine)
    tables = Base.metadata.tables
    now = utcnow()
    with engine.begin() as conn:
        case_id = conn.execute(
            insert(tables["cases"]).values(ref="DIST-2026-0001", title="T", created_by="cli:x")
        ).inserted_primary_key[0]
        conn.execute(
            insert(tables["case_transitions"]).values(
                case_id=case_id, from_state="reported", to_state="triage", actor="a", actor_name="A"
            )
        )
        conn.execute(insert(tables["case_notes"]).values(case_id=case_id, author="a", body="b"))
        item_id = conn.execute(
            insert(tables["evidence_items"]).values(
                case_id=case_id,
                role="upload",
                name="n",
                media_type="text/plain",
                sha256="0" * 64,
                size_bytes=1,
                source="s",
                collected_at=now,
                created_by="a",
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(tables["custody_events"]).values(item_id=item_id, action="viewed", actor="a")
        )
    engine.dispose()

    def counts() -> dict[str, int]:
        engine = create_engine(database_url)
        with engine.connect() as conn:
            found = {
                name: conn.execute(select(func.count()).select_from(tables[name])).scalar()
                for name in (
                    "cases",
                    "case_transitions",
                    "case_notes",
                    "evidence_items",
                    "custody_events",
                )
            }
        engine.dispose()
        return found

    downgrade(database_url, "0001")
    assert not any(name.startswith("ck_") for name in _migrated_checks(database_url))
    assert set(counts().values()) == {1}
    upgrade(database_url)
    assert _migrated_checks(database_url) == _modelled_checks()
    assert set(counts().values()) == {1}
    # The append-only custody log still refuses changes after its table was recreated.
    engine = create_engine(database_url)
    configure_engine(engine)
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE custody_events SET purpose = 'rewritten'"))
    engine.dispose()
