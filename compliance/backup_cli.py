"""`compliance backup DIR` and `compliance restore DIR`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from compliance.audit.context import new_request_id
from compliance.auth.actor import Actor
from compliance.cli import fail
from compliance.errors import OperationError
from compliance.extensions import db


def _fail(error: OperationError) -> click.ClickException:
    db.session.rollback()
    return fail(error)


@click.command("backup")
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(directory: str) -> None:
    """Back up the database, evidence blobs, policy files and checkpoints into DIRECTORY."""
    from compliance.backup import backup

    new_request_id("cli-backup-")
    try:
        report = backup(Actor.cli_operator(), directory)
        db.session.commit()
    except OperationError as error:
        raise _fail(error) from error
    click.echo(
        f"backup OK: {report.files} files, {report.total_bytes} bytes, "
        f"audit head seq={report.audit_head.get('seq')} -> {report.directory} "
        f"manifest sha256={report.manifest_sha256}"
    )


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@with_appcontext
def restore_command(directory: str, force: bool) -> None:
    """Restore a backup made by `compliance backup` onto this (empty) instance."""
    from compliance.backup import restore

    new_request_id("cli-restore-")
    try:
        summary = restore(Actor.cli_operator(), directory, force=force)
    except OperationError as error:
        raise _fail(error) from error
    counts = ", ".join(f"{k}={v}" for k, v in sorted(summary["counts"].items()))
    click.echo(f"restore OK: {summary['blobs']} blobs; {counts}")
