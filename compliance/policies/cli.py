"""`compliance policies sync|list` and `compliance case link-clause` for scripts."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from compliance.cli import actor_option, case_group, resolve_actor, transactional


@click.group("policies")
def policies_group() -> None:
    """The terms-of-service clause library."""


@policies_group.command("sync")
@click.option(
    "--path",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of policy files (default: the project's policies/).",
)
@actor_option
@transactional
def policies_sync(folder: Path | None, as_email: str | None) -> None:
    """Store new policy versions; refuse everything if a file is bad or a version changed."""
    from compliance.policies.operations import policies_dir, sync_policies

    report = sync_policies(resolve_actor(as_email), folder or policies_dir(current_app.config))
    for name in report.published:
        click.echo(f"published {name}")
    for name in report.not_in_folder:
        click.echo(f"note: {name} is stored but has no file in the folder (it stays stored)")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"policies synced: {report.summary()}")


@policies_group.command("list")
@with_appcontext
def policies_list() -> None:
    """Documents, their versions with effective periods, and date problems."""
    from compliance.policies.operations import date_warnings, list_documents

    documents = list_documents()
    if not documents:
        click.echo("no policy documents stored; run `compliance policies sync`")
        return
    for document in documents:
        click.echo(
            f"{document.key}\t{document.title}\towner {document.owner}\t"
            f"next review {document.next_review_on.isoformat()}"
        )
        for version in document.versions:
            until = version.effective_to.isoformat() if version.effective_to else "in force"
            click.echo(
                f"  {document.key}@{version.version}\t{version.effective_from.isoformat()} → "
                f"{until}\t{len(version.clauses)} clauses\tsha256 {version.sha256}"
            )
        for warning in date_warnings(document):
            click.echo(f"  warning: {warning}")


@case_group.command("link-clause")
@click.argument("ref")
@click.argument("clause")
@click.option("--note", required=True, help="How the conduct breaks the clause.")
@click.option("--evidence", "evidence_item_id", type=int, default=None, help="Evidence item id.")
@click.option(
    "--override-reason",
    default=None,
    help="Cite a version not in force during the incident window, and say why (audited).",
)
@actor_option
@transactional
def case_link_clause(
    ref: str,
    clause: str,
    note: str,
    evidence_item_id: int | None,
    override_reason: str | None,
    as_email: str | None,
) -> None:
    """Cite CLAUSE (document@version#number, e.g. api-terms@2026-03#4.2) against case REF."""
    from compliance.cases.operations import get_case
    from compliance.policies.operations import cite_clause, find_clause

    case = get_case(ref)
    citation = cite_clause(
        case,
        resolve_actor(as_email),
        find_clause(clause),
        note,
        evidence_item_id=evidence_item_id,
        override_reason=override_reason,
    )
    suffix = "" if citation.in_force else " (not in force during the window: override recorded)"
    click.echo(f"{case.ref}: cited {citation.citation()}{suffix}")
