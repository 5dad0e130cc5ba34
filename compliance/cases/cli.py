"""`compliance case create|edit|show`: a case's details from scripts.

`create` and `edit` call the same operations as the web form (`create_case`, `update_case`):
the same rules, the same version check, the same audit event.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app

from compliance.cases.models import DOMAINS, SEVERITIES
from compliance.cli import (
    actor_option,
    case_group,
    invalid,
    json_option,
    parse_time,
    print_json,
    resolve_actor,
    transactional,
)
from compliance.errors import InvalidInput
from compliance.extensions import db

_DETAIL_OPTIONS: list[Callable[[Callable], Callable]] = [
    click.option(
        "--summary",
        default=None,
        metavar="-|TEXT",
        help="Summary (Markdown); `-` reads it from stdin. Needed for legal_review.",
    ),
    click.option("--severity", type=click.Choice(SEVERITIES), default=None),
    click.option("--confidence", type=float, default=None, help="0 to 1."),
    click.option(
        "--owner",
        default=None,
        metavar="EMAIL",
        help='An active analyst or counsel ("" unassigns). Needed for investigating.',
    ),
    click.option("--suspected-actor", default=None, help='Who is behind it ("" clears).'),
    click.option("--jurisdiction", default=None, help='e.g. "US (N.D. Cal.)" ("" clears).'),
    click.option("--incident-start", default=None, help="ISO 8601; without a zone, UTC."),
    click.option("--incident-end", default=None, help="ISO 8601; without a zone, UTC."),
    click.option("--estimated-queries", type=int, default=None, help="Estimated query volume."),
    click.option(
        "--domain",
        "domains",
        multiple=True,
        type=click.Choice(DOMAINS),
        help="A targeted domain; repeat for several (replaces the list).",
    ),
]


def detail_options(command: Callable) -> Callable:
    for option in reversed(_DETAIL_OPTIONS):
        command = option(command)
    return command


def _fields(title: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The fields the command names, in the operation's terms; options left out stay as they are."""
    from compliance.cases.operations import find_owner

    fields: dict[str, Any] = {}
    if title is not None:
        fields["title"] = title
    summary = options["summary"]
    if summary is not None:
        fields["summary"] = sys.stdin.read() if summary == "-" else summary
    for name in ("severity", "confidence", "estimated_queries"):
        if options[name] is not None:
            fields[name] = options[name]
    for name in ("suspected_actor", "jurisdiction"):
        if options[name] is not None:
            fields[name] = options[name].strip() or None
    if options["owner"] is not None:
        fields["owner_id"] = find_owner(options["owner"])
    for name in ("incident_start", "incident_end"):
        if options[name] is not None:
            fields[name] = parse_time(options[name])
    if options["domains"]:
        fields["targeted_domains"] = list(dict.fromkeys(options["domains"]))
    return fields


def _owner_named(error: InvalidInput) -> InvalidInput:
    # The operation names the column (owner_id); a script named the option (--owner).
    if isinstance(error.details, dict) and "owner_id" in error.details:
        error.details = {("owner" if k == "owner_id" else k): v for k, v in error.details.items()}
    return error


def _show(case: Any, as_json: bool, headline: str) -> None:
    if as_json:
        db.session.flush()  # the version a stale-edit check compares is the flushed one
        print_json(case.as_json(detail=True))
    else:
        click.echo(headline)


@case_group.command("create")
@click.option("--title", required=True, help="What the case is about (≤ 300 characters).")
@detail_options
@json_option
@actor_option
@transactional
def case_create(title: str, as_json: bool, as_email: str | None, **options: Any) -> None:
    """Open a case in `reported` (as the web form "New case" does)."""
    from compliance.cases.operations import create_case

    actor = resolve_actor(as_email)
    try:
        case = create_case(
            actor, ref_prefix=current_app.config["CASE_REF_PREFIX"], **_fields(title, options)
        )
    except InvalidInput as error:
        raise _owner_named(error) from None
    _show(case, as_json, f"created {case.ref}")


@case_group.command("edit")
@click.argument("ref")
@click.option("--title", default=None, help="A new title (≤ 300 characters).")
@detail_options
@click.option(
    "--expect-version",
    type=int,
    default=None,
    help="Refuse (exit 1) if the case changed since you read this version (`case show`).",
)
@json_option
@actor_option
@transactional
def case_edit(
    ref: str,
    title: str | None,
    expect_version: int | None,
    as_json: bool,
    as_email: str | None,
    **options: Any,
) -> None:
    """Change case REF's details (as the web form "Edit details" does); only the options given."""
    from compliance.cases.operations import get_case, update_case

    case = get_case(ref)
    actor = resolve_actor(as_email)
    fields = _fields(title, options)
    if not fields:
        raise invalid("nothing to change: name at least one option (see --help)")
    before = case.snapshot()
    try:
        update_case(case, actor, fields, expected_version=expect_version)
    except InvalidInput as error:
        raise _owner_named(error) from None
    changed = [k.removesuffix("_id") for k, v in case.snapshot().items() if before[k] != v]
    _show(
        case,
        as_json,
        f"{case.ref}: " + ("changed " + ", ".join(changed) if changed else "no change"),
    )


@case_group.command("show")
@click.argument("ref")
@json_option
@actor_option
@transactional
def case_show(ref: str, as_json: bool, as_email: str | None) -> None:
    """Print case REF: state, owner, details and workflow history (--json: as the API does)."""
    from compliance.auth.permissions import require_permission
    from compliance.cases.operations import get_case

    require_permission(resolve_actor(as_email), "case.view")
    case = get_case(ref)
    data = case.as_json(detail=True)
    if as_json:
        print_json(data)
        return
    for key in ("ref", "title", "state", "severity", "owner", "legal_hold", "version"):
        click.echo(f"{key}: {data[key]}")
    for key in ("confidence", "suspected_actor", "jurisdiction", "incident_start"):
        if data[key] is not None:
            click.echo(f"{key}: {data[key]}")
    if data["incident_end"]:
        click.echo(f"incident_end: {data['incident_end']}")
    if data["chosen_actions"]:
        click.echo(f"chosen_actions: {', '.join(data['chosen_actions'])}")
    click.echo(
        f"summary: {'(none)' if not data['summary'] else str(len(data['summary'])) + ' chars'}"
    )
    for step in data["transitions"]:
        reason = f" ({step['reason']})" if step["reason"] else ""
        click.echo(f"  {step['at']} {step['from']} -> {step['to']} by {step['actor']}{reason}")
