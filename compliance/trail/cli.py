"""Audit and retention commands: checkpoint, export, case delete and case merge."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from compliance.cli import (
    actor_option,
    audit_group,
    case_group,
    parse_time,
    resolve_actor,
    transactional,
)


@audit_group.command("checkpoint")
@actor_option
@transactional
def audit_checkpoint(as_email: str | None) -> None:
    """Sign the current chain head and write it to CHECKPOINT_DIR (and the database)."""
    from flask import current_app

    from compliance.trail.checkpoints import write_checkpoint

    checkpoint = write_checkpoint(resolve_actor(as_email))
    path = Path(current_app.config["CHECKPOINT_DIR"]) / (checkpoint.file_name or "")
    click.echo(f"checkpoint seq={checkpoint.seq} {checkpoint.head_hash}")
    click.echo(str(path))


@audit_group.command("fingerprint")
@with_appcontext
def audit_fingerprint() -> None:
    """Print the keyed fingerprint of the text on stdin, to compare with one in the trail."""
    import sys

    from compliance.audit.chain import text_fingerprint

    click.echo(text_fingerprint(sys.stdin.read().strip())["hmac_sha256"])


@audit_group.command("export")
@click.option("--since", default=None, help="Start of the period (ISO 8601, inclusive).")
@click.option("--until", default=None, help="End of the period (ISO 8601, exclusive).")
@click.option(
    "--case", "case_ref", default=None, help="Only this case's events (e.g. DIST-2026-0001)."
)
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "pdf"]), default="json")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True))
@actor_option
@transactional
def audit_export(
    since: str | None,
    until: str | None,
    case_ref: str | None,
    fmt: str,
    output: str,
    as_email: str | None,
) -> None:
    """Export the audit trail for a regulator; the export itself is audited."""
    from compliance.trail.export import export_audit

    export = export_audit(
        resolve_actor(as_email), fmt, parse_time(since), parse_time(until), case_ref
    )
    # Write beside the target, then rename: a killed export leaves no truncated file.
    target = Path(output)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with open(temporary, "wb") as handle:
            handle.write(export.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    state = "verified" if export.header["verification"]["ok"] else "VERIFICATION FAILED"
    click.echo(f"{export.count} events ({state}) -> {output} sha256={export.sha256}")


@case_group.command("delete")
@click.argument("ref")
@actor_option
@transactional
def case_delete(ref: str, as_email: str | None) -> None:
    """Delete a closed or dismissed case after its retention period (its audit trail stays)."""
    from compliance.cases.operations import get_case
    from compliance.cases.retention import delete_case

    delete_case(get_case(ref), resolve_actor(as_email))
    click.echo(f"deleted {ref}; its audit events are kept")


@case_group.command("merge")
@click.argument("source")
@click.argument("target")
@click.option("--reason", required=True)
@actor_option
@transactional
def case_merge(source: str, target: str, reason: str, as_email: str | None) -> None:
    """Merge case SOURCE into TARGET; both histories stay in the audit trail."""
    from compliance.cases.operations import get_case
    from compliance.cases.retention import merge_cases

    merge = merge_cases(get_case(source), get_case(target), resolve_actor(as_email), reason)
    click.echo(f"merged {merge.source_ref} into {merge.target_ref}")
