"""Run the Alembic migrations from code (the CLI, tests and the demo use this)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config

from compliance import PROJECT_ROOT

# Tables owned by libraries, not by our models (APScheduler's job store).
EXTERNAL_TABLES = {"apscheduler_jobs"}
# Full-text search structures written by hand in the migration (SQLite FTS5 and its shadow
# tables, PostgreSQL expression indexes): autogenerate cannot describe them.
HAND_WRITTEN_PREFIXES = ("case_search_fts", "ix_case_search_public_tsv", "ix_case_search_all_tsv")


# Tables the migration creates by hand because their DDL differs per database (the audit log's
# generated columns). Autogenerate must not write them; the drift test still compares them.
HAND_WRITTEN_TABLES = {"audit_events"}


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """What is compared with the models: only what the models describe."""
    if type_ == "table" and name in EXTERNAL_TABLES:
        return False
    return not (name or "").startswith(HAND_WRITTEN_PREFIXES)


def include_in_revision(obj: Any, name: str | None, type_: str, *args: Any) -> bool:
    """What autogenerate writes into a revision (include_object): not hand-written tables."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", None) not in HAND_WRITTEN_TABLES


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
