"""Migrations: one head, upgrade from empty, no drift from the models, down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from compliance.db import Base
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
