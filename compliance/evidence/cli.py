"""`compliance ingest PATH...` and `compliance evidence verify|orphans|move-store`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from compliance.actor import Actor
from compliance.audit.context import new_request_id
from compliance.cli import (
    EXIT_INVALID,
    EXIT_OK,
    actor_option,
    exit_code_for,
    json_option,
    print_json,
    resolve_actor,
)
from compliance.errors import OperationError
from compliance.evidence.files import read_batch
from compliance.extensions import db


def _problems(details: Any) -> list[str]:
    if isinstance(details, list):
        return [
            f"item {d.get('index')}: {d.get('field') or '(root)'}: {d.get('message')}"
            for d in details
        ]
    if isinstance(details, dict):
        return [f"{k}: {v}" for k, v in details.items()]
    return []


@dataclass
class FileOutcome:
    """What one file's batch did: each finding's result, or why the whole file was refused."""

    path: Path
    results: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    exit_code: int = EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "results": self.results, "error": self.error}


def _ingest_file(path: Path, actor: Actor) -> FileOutcome:
    from compliance.evidence.operations import ingest_findings, record_rejected_batch

    outcome = FileOutcome(path)
    try:
        batch = read_batch(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        db.session.rollback()
        record_rejected_batch(actor, "cli", error, None)
        db.session.commit()
        outcome.error = {"code": "unreadable", "message": str(error), "details": None}
        outcome.exit_code = EXIT_INVALID
        return outcome
    try:
        results = ingest_findings(batch, actor, channel="cli")
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        record_rejected_batch(actor, "cli", error, len(batch))
        db.session.commit()
        outcome.error = {"code": error.code, "message": error.message, "details": error.details}
        outcome.exit_code = exit_code_for(error)
        return outcome
    outcome.results = [r.as_dict() for r in results]
    return outcome


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@json_option
@actor_option
@with_appcontext
def ingest(paths: tuple[str, ...], as_json: bool, as_email: str | None) -> None:
    """Ingest finding files (JSON or JSONL); each file is one all-or-nothing batch.

    Exit 0 when every file was stored; otherwise the highest exit code among the refused
    files (2 invalid, 1 refused, e.g. a conflicting re-send). --json prints
    {"files": [{file, results: [{index, finding_id, case_ref, status}], error}]}.
    """
    new_request_id("cli-ingest-")
    actor = resolve_actor(as_email)
    outcomes: list[FileOutcome] = []
    with click.progressbar(
        [Path(p) for p in paths],
        label="Ingesting",
        item_show_func=lambda p: p.name if p else "",
        file=sys.stderr if as_json else None,
    ) as files:
        for path in files:
            outcomes.append(_ingest_file(path, actor))
    totals = {"created": 0, "attached": 0, "duplicate": 0}
    for outcome in outcomes:
        for result in outcome.results:
            totals[result["status"]] += 1
    failures = [o for o in outcomes if o.error is not None]
    for failure in failures:
        assert failure.error is not None
        problems = _problems(failure.error["details"])
        click.echo(f"REJECTED {failure.path}: {failure.error['message']}", err=True)
        for line in problems[:20]:
            click.echo(f"  {line}", err=True)
    if as_json:
        print_json({"files": [o.as_dict() for o in outcomes]})
    else:
        click.echo(
            f"{len(paths)} file(s): {totals['created']} created (new case), "
            f"{totals['attached']} attached, {totals['duplicate']} duplicate, "
            f"{len(failures)} file(s) rejected"
        )
    if failures:
        sys.exit(max(f.exit_code for f in failures))


@click.group("evidence")
def evidence_group() -> None:
    """The write-once evidence store."""


@evidence_group.command("verify")
@with_appcontext
def evidence_verify() -> None:
    """Re-hash every blob evidence refers to; exit non-zero listing missing or altered ones."""
    from sqlalchemy import func, select

    from compliance.evidence.models import EvidenceItem
    from compliance.evidence.operations import verify_evidence

    new_request_id("cli-verify-")
    total = db.session.scalar(select(func.count()).select_from(EvidenceItem)) or 0
    with click.progressbar(length=total, label="Verifying") as bar:
        report = verify_evidence(Actor.cli_operator(), progress=bar.update)
    db.session.commit()
    if not report.ok:
        for sha256, status in report.problems:
            click.echo(f"sha256={sha256} {status}")
        click.echo(
            f"evidence store BROKEN: {len(report.problems)} blob(s) missing or altered", err=True
        )
        sys.exit(1)
    click.echo(f"evidence OK: {report.checked} blobs verified for {report.items} items")


@evidence_group.command("orphans")
@click.option("--delete", is_flag=True, help="Remove them (and stale temporary files).")
@click.option("--grace", default=3600, show_default=True, help="Ignore blobs younger (seconds).")
@with_appcontext
def evidence_orphans(delete: bool, grace: int) -> None:
    """List (or remove) blobs no evidence item refers to, left by interrupted batches."""
    from compliance.evidence.operations import clean_orphans, find_orphans

    new_request_id("cli-orphans-")
    orphans = clean_orphans(Actor.cli_operator(), grace) if delete else find_orphans(grace)
    db.session.commit()
    for sha256 in orphans:
        click.echo(f"sha256={sha256}")
    click.echo(f"{len(orphans)} orphan blob(s){' removed' if delete else ''}")


@evidence_group.command("move-store")
@click.option(
    "--to",
    "target_kind",
    required=True,
    type=click.Choice(["filesystem", "postgresql"]),
    help="The backend to copy every blob into (the source is the configured one).",
)
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False),
    help="The filesystem store's folder (default COMPLIANCE_EVIDENCE_DIR).",
)
@with_appcontext
def evidence_move_store(target_kind: str, directory: str | None) -> None:
    """Copy the evidence store into another backend and re-hash every blob there.

    Then set COMPLIANCE_EVIDENCE_STORE to the new backend on every host and restart.
    """
    from flask import current_app

    from compliance.evidence.operations import move_store
    from compliance.evidence.store import blob_store, open_store

    new_request_id("cli-move-store-")
    source_kind = current_app.config["EVIDENCE_STORE"]
    if source_kind == target_kind:
        raise click.UsageError(f"the configured evidence store is already {target_kind}")
    if target_kind == "postgresql" and db.engine.dialect.name != "postgresql":
        raise click.UsageError("the postgresql store needs COMPLIANCE_DATABASE_URL on PostgreSQL")
    folder = directory or current_app.config["EVIDENCE_DIR"]
    source = blob_store()
    target = open_store(target_kind, directory=folder)
    where = {"filesystem": f"filesystem:{folder}", "postgresql": "postgresql"}
    if source_kind == "filesystem":
        where["filesystem"] = f"filesystem:{current_app.config['EVIDENCE_DIR']}"
    description = f"{where[source_kind]} -> {where[target_kind]}"
    total = sum(1 for _ in source.hashes())
    with click.progressbar(length=total, label="Copying") as bar:
        try:
            report = move_store(Actor.cli_operator(), source, target, description, bar.update)
            db.session.commit()
        except OperationError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from error
    for sha256, problem in report.problems:
        click.echo(f"sha256={sha256} {problem}")
    if not report.ok:
        click.echo(f"evidence store move FAILED: {len(report.problems)} blob(s)", err=True)
        sys.exit(1)
    click.echo(
        f"evidence store moved ({description}): {report.blobs} blobs, {report.copied} copied, "
        f"{report.already} already there, every hash verified in the target"
    )
