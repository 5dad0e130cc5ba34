"""`compliance notice check-identifier` and `compliance notice deadlines`: the re-upload watch
and the notices' deadlines from the command line (same operations, rules and audit events as
the pages; exit codes as everywhere)."""

from __future__ import annotations

import click

from compliance.cli import actor_option, json_option, print_json, resolve_actor, transactional
from compliance.notices.cli import notice_group
from compliance.notices.models import IDENTIFIER_KINDS


@notice_group.command("check-identifier")
@click.argument("kind", type=click.Choice(tuple(IDENTIFIER_KINDS)))
@click.argument("value")
@click.option("--where", "where_seen", default="", help="Where you saw it, in a sentence.")
@actor_option
@json_option
@transactional
def check_identifier(
    kind: str, value: str, where_seen: str, as_email: str | None, as_json: bool
) -> None:
    """Was KIND VALUE taken down by one of our notices? Flags each match as a re-upload.

    KIND is url, repository, file_sha256 or model_name. Exit 0 either way; the output (and
    `repeat` in --json) says whether it matched.
    """
    from compliance.notices import watch

    result = watch.check_identifier(resolve_actor(as_email), kind, value, where_seen)
    if as_json:
        print_json(
            {
                "kind": result.kind,
                "value": result.value,
                "repeat": result.repeat,
                "notices": [
                    {"id": n.id, "our_reference": n.our_reference, "case_ref": n.case.ref}
                    for n in result.notices
                ],
                "flags": [f.id for f in result.flags],
            }
        )
        return
    if not result.repeat:
        click.echo(f"no match: {kind} {result.value} was not taken down by any notice")
        return
    for notice in result.notices:
        click.echo(
            f"repeat: notice {notice.id} {notice.our_reference} ({notice.case.ref}) to "
            f"{notice.recipient_name}, {notice.state}"
        )
    click.echo(f"{len(result.flags)} new re-upload flag(s)")


@notice_group.command("deadlines")
@json_option
@transactional
def deadlines(as_json: bool) -> None:
    """Open notices by next deadline, overdue first, in the recipients' business days."""
    from compliance.notices.due_dates import upcoming

    pairs = upcoming()
    if as_json:
        print_json(
            {
                "items": [
                    {
                        "notice_id": n.id,
                        "our_reference": n.our_reference,
                        "case_ref": n.case.ref,
                        "deadline": d.kind,
                        "due_on": d.due_on.isoformat(),
                        "business_days_left": d.days_left,
                        "overdue": d.overdue,
                        "text": d.text,
                    }
                    for n, d in pairs
                ]
            }
        )
        return
    for notice, d in pairs:
        click.echo(
            f"{d.due_on.isoformat()} {notice.our_reference} {d.label.lower()}: {d.text} "
            f"({notice.recipient_name})"
        )
    if not pairs:
        click.echo("no notice waits on a deadline")
