"""Run the Alembic migrations from code (the CLI, tests and the demo use this)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from compliance import PROJECT_ROOT


# Tables owned by libraries, not by our models (APScheduler's job store).
EXTERNAL_TABLES = {"apscheduler_jobs"}


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate compares only our own tables."""
    return not (type_ == "table" and name in EXTERNAL_TABLES)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
