"""`compliance backup DIR`, `compliance backup drill [DIR]` and `compliance restore DIR`.

Each command runs one job of `compliance.backup` as the operator (a shell on the server).
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from compliance.actor import Actor
from compliance.audit.context import new_request_id
from compliance.backup import backup, drill, restore
from compliance.cli import fail
from compliance.errors import OperationError
from compliance.extensions import db


def _fail(error: OperationError) -> click.ClickException:
    db.session.rollback()
    return fail(error)


class _BackupGroup(click.Group):
    """`compliance backup DIR` backs up; `compliance backup drill [DIR]` runs a restore drill.

    A first argument that is not a subcommand is the folder of `backup create` (so a folder
    named like a subcommand needs `compliance backup create NAME`).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group("backup", cls=_BackupGroup)
def backup_command() -> None:
    """Back up this instance (`backup DIR`), or prove a backup restores (`backup drill`)."""


@backup_command.command("create")
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def backup_create(directory: str) -> None:
    """Back up the database, evidence blobs, policy files, checkpoints and keys into DIRECTORY."""
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


@backup_command.command("drill")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False))
@with_appcontext
def backup_drill(directory: str | None) -> None:
    """Restore a backup into a temporary instance and prove nothing is lost (one-line verdict).

    DIRECTORY is a backup made by `compliance backup`; without it, the newest backup in
    COMPLIANCE_BACKUP_DIR, or (when that is not set) a fresh backup into a temporary folder.
    Exit 1 when anything differs; each difference is printed above the verdict.
    """
    new_request_id("cli-drill-")
    try:
        report = drill(Actor.cli_operator(), directory)
        db.session.commit()
    except OperationError as error:
        raise _fail(error) from error
    for problem in report.problems[:50]:
        click.echo(f"  {problem}")
    click.echo(report.verdict)
    if not report.ok:
        sys.exit(1)


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@with_appcontext
def restore_command(directory: str, force: bool) -> None:
    """Restore a backup made by `compliance backup` onto this (empty) instance."""
    new_request_id("cli-restore-")
    try:
        summary = restore(Actor.cli_operator(), directory, force=force)
    except OperationError as error:
        raise _fail(error) from error
    for path in summary["conflicting_files"]:
        click.echo(f"kept this instance's own {path} (differs from the backup's)", err=True)
    counts = ", ".join(f"{k}={v}" for k, v in sorted(summary["counts"].items()))
    click.echo(
        f"restore OK: {summary['blobs']} blobs; {summary['tables']} tables identical to the "
        f"backup; {counts}"
    )
