"""Demo step: load the lab's policy documents before cases and evidence are created."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from compliance.actor import Actor
from compliance.extensions import db


def sync_policies(echo: Callable[[str], None]) -> None:
    """Sync policies/ as the CLI operator (idempotent: stored versions are left alone)."""
    from compliance.policies.operations import policies_dir
    from compliance.policies.operations import sync_policies as sync

    report = sync(Actor.cli_operator(), policies_dir(current_app.config))
    db.session.commit()
    echo(f"policies: {report.summary()}")
    for warning in report.warnings:
        echo(f"  warning: {warning}")
