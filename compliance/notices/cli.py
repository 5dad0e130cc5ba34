"""`compliance notice ...` and `compliance recipient ...`: notices after sending, the directory.

The commands call the same operations as the pages (same rules, same audit events); exit codes
as everywhere (README "Exit codes"): 0 done, 1 refused by a rule, 2 bad input, 3 failed.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

import click

from compliance.cli import (
    actor_option,
    invalid,
    json_option,
    parse_time,
    print_json,
    resolve_actor,
    transactional,
)
from compliance.notices.models import IDENTIFIER_KINDS, NOTICE_STATES, OUTCOMES, RECIPIENT_KINDS
from compliance.packets.composition import BASES


@click.group("notice")
def notice_group() -> None:
    """Notices sent: their states, the recipients' answers, targeted identifiers."""


@click.group("recipient")
def recipient_group() -> None:
    """The recipients directory: hosting platforms, agencies, partner labs."""


def _upload(path: Path | None, description: str = "") -> Any:
    from compliance.notices.operations import Upload

    if path is None:
        return None
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Upload(path.name, media_type, path.read_bytes(), description)


def _print_notice(n: Any) -> None:
    from compliance.notices.operations import next_step

    outcome = f" ({n.outcome})" if n.outcome else ""
    click.echo(
        f"notice {n.id} {n.our_reference} {n.case.ref} {n.packet_type} to {n.recipient_name}: "
        f"{n.state}{outcome}; sent {n.sent_at:%Y-%m-%d} by {n.channel}; next: {next_step(n)}"
    )


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_COMMON = [
    click.option("--on", "occurred_on", default=None, help="When (ISO 8601 date). Default: now."),
    click.option("--note", default="", help="What happened, in a sentence."),
    click.option("--response", type=_FILE, default=None, help="Their answer: kept as evidence."),
]


def _common(command: Any) -> Any:
    for option in reversed(_COMMON):
        command = option(command)
    return command


def _step(
    notice_id: int,
    target: str,
    as_email: str | None,
    as_json: bool,
    occurred_on: str | None,
    note: str,
    response: Path | None,
    **extra: Any,
) -> None:
    from compliance.notices.operations import get_notice, notice_json, transition_notice

    notice = transition_notice(
        get_notice(notice_id),
        resolve_actor(as_email),
        target,
        occurred_at=parse_time(occurred_on),
        note=note,
        response=_upload(response),
        **extra,
    )
    if as_json:
        print_json(notice_json(notice, detail=True))
    else:
        _print_notice(notice)


@notice_group.command("list")
@click.option("--state", type=click.Choice(tuple(NOTICE_STATES)), default=None)
@click.option("--case", "ref", default=None, help="Only this case's notices.")
@json_option
@transactional
def notice_list(state: str | None, ref: str | None, as_json: bool) -> None:
    """Notices, newest first."""
    from compliance.cases.operations import get_case
    from compliance.notices.operations import list_notices, notice_json

    notices, total = list_notices(state=state, case=get_case(ref) if ref else None)
    if as_json:
        print_json({"items": [notice_json(n) for n in notices], "total": total})
        return
    for notice in notices:
        _print_notice(notice)
    if not notices:
        click.echo("no notices")


@notice_group.command("show")
@click.argument("notice_id", type=int)
@json_option
@transactional
def notice_show(notice_id: int, as_json: bool) -> None:
    """A notice with its history, identifiers and (referrals) the agency's requests."""
    from compliance.notices.operations import get_notice, notice_json

    notice = get_notice(notice_id)
    if as_json:
        print_json(notice_json(notice, detail=True))
        return
    _print_notice(notice)
    click.echo(f"packet {notice.packet_id} sha256={notice.packet_sha256}")
    click.echo(f"their reference: {notice.their_reference or '-'}")
    for identifier in notice.identifiers:
        click.echo(f"identifier {identifier.kind} {identifier.value}")
    for event in notice.events:
        click.echo(f"{event.occurred_at:%Y-%m-%d} {event.kind} {event.actor} {event.note}".rstrip())


@notice_group.command("ack")
@click.argument("notice_id", type=int)
@click.option("--their-ref", "their_reference", default=None, help="Their ticket number.")
@_common
@actor_option
@json_option
@transactional
def notice_ack(notice_id: int, their_reference: str | None, as_email: str | None, **kw: Any):
    """The recipient acknowledged the notice."""
    _step(notice_id, "acknowledged", as_email, their_reference=their_reference, **kw)


@notice_group.command("resolve")
@click.argument("notice_id", type=int)
@click.option("--outcome", type=click.Choice(tuple(OUTCOMES)), required=True)
@_common
@actor_option
@json_option
@transactional
def notice_resolve(notice_id: int, outcome: str, as_email: str | None, **kw: Any):
    """The recipient decided: removed, disabled, refused or no action."""
    _step(notice_id, "resolved", as_email, outcome=outcome, **kw)


@notice_group.command("counter-notice")
@click.argument("notice_id", type=int)
@click.option("--on", "occurred_on", required=True, help="Date the counter-notice was received.")
@click.option("--note", default="")
@click.option("--response", type=_FILE, default=None, help="The counter-notice: kept as evidence.")
@actor_option
@json_option
@transactional
def notice_counter(notice_id: int, as_email: str | None, **kw: Any):
    """The uploader filed a counter-notice (the statutory window opens)."""
    _step(notice_id, "counter_notice_received", as_email, **kw)


@notice_group.command("restore")
@click.argument("notice_id", type=int)
@_common
@actor_option
@json_option
@transactional
def notice_restore(notice_id: int, as_email: str | None, **kw: Any):
    """The platform restored the material after a counter-notice."""
    _step(notice_id, "restored", as_email, **kw)


@notice_group.command("suit-filed")
@click.argument("notice_id", type=int)
@click.option("--reason", required=True, help="The action filed (court, docket number).")
@_common
@actor_option
@json_option
@transactional
def notice_suit(notice_id: int, reason: str, as_email: str | None, **kw: Any):
    """We told the platform that suit was filed: the material stays down."""
    _step(notice_id, "suit_filed", as_email, reason=reason, **kw)


@notice_group.command("withdraw")
@click.argument("notice_id", type=int)
@click.option("--reason", required=True)
@_common
@actor_option
@json_option
@transactional
def notice_withdraw(notice_id: int, reason: str, as_email: str | None, **kw: Any):
    """Withdraw an open notice, with a reason (counsel)."""
    _step(notice_id, "withdrawn", as_email, reason=reason, **kw)


@notice_group.command("identifiers")
@click.argument("notice_id", type=int)
@click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="KIND=VALUE",
    help=f"Replace the list (repeatable); kinds: {', '.join(IDENTIFIER_KINDS)}.",
)
@click.option("--clear", is_flag=True, help="Remove every identifier.")
@click.option("--note", default="")
@actor_option
@json_option
@transactional
def notice_identifiers(
    notice_id: int,
    pairs: tuple[str, ...],
    clear: bool,
    note: str,
    as_email: str | None,
    as_json: bool,
) -> None:
    """Show the identifiers of the material a notice targets, or replace them."""
    from compliance.notices.operations import get_notice, set_identifiers

    notice = get_notice(notice_id)
    if pairs or clear:
        if pairs and clear:
            raise invalid("--set and --clear: choose one")
        parsed = []
        for pair in pairs:
            kind, sep, value = pair.partition("=")
            if not sep:
                raise invalid(f"--set {pair!r}: expected KIND=VALUE")
            parsed.append((kind.strip(), value.strip()))
        set_identifiers(notice, resolve_actor(as_email), parsed, note=note)
    items = [{"kind": i.kind, "value": i.value} for i in notice.identifiers]
    if as_json:
        print_json({"notice_id": notice.id, "identifiers": items})
        return
    for item in items:
        click.echo(f"{item['kind']} {item['value']}")
    if not items:
        click.echo("no identifiers")


# ---------------------------------------------------------------- recipients
def _recipient_options(command: Any) -> Any:
    options = [
        click.option("--name", default=None, help="Legal name."),
        click.option("--kind", type=click.Choice(tuple(RECIPIENT_KINDS)), default=None),
        click.option("--jurisdiction", default=None, help="ISO country code, e.g. US."),
        click.option("--subdivision", default=None, help='ISO 3166-2 subdivision ("" clears).'),
        click.option("--email", default=None),
        click.option("--web-form", "web_form_url", default=None, help="https:// address."),
        click.option("--postal-address", default=None),
        click.option("--agent", "agent_name", default=None, help="Designated agent's name."),
        click.option("--agent-registration", default=None),
        click.option(
            "--basis",
            "accepted_bases",
            multiple=True,
            type=click.Choice(tuple(BASES)),
            help="A notice basis it accepts (repeatable; replaces the list).",
        ),
        click.option(
            "--community/--no-community",
            "in_sharing_community",
            default=None,
            help="Inside our intel-sharing community (TLP:AMBER).",
        ),
        click.option("--response-days", type=int, default=None, help="Business days expected."),
        click.option("--notes", default=None),
        click.option("--active/--inactive", "active", default=None),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in fields.items() if v is not None}
    if not given.get("accepted_bases"):
        given.pop("accepted_bases", None)
    return given


@recipient_group.command("list")
@click.option("--kind", type=click.Choice(tuple(RECIPIENT_KINDS)), default=None)
@json_option
@transactional
def recipient_list(kind: str | None, as_json: bool) -> None:
    """The directory, by name."""
    from compliance.notices.operations import list_recipients, recipient_json

    recipients = list_recipients(kind=kind)
    if as_json:
        print_json({"items": [recipient_json(r) for r in recipients]})
        return
    for r in recipients:
        flag = "" if r.active else " (inactive)"
        community = " community" if r.in_sharing_community else ""
        click.echo(f"{r.id} {r.name} [{r.kind} {r.jurisdiction}{community}]{flag}")
    if not recipients:
        click.echo("no recipients")


@recipient_group.command("add")
@_recipient_options
@actor_option
@json_option
@transactional
def recipient_add(as_email: str | None, as_json: bool, **fields: Any) -> None:
    """Add a recipient (admin or counsel)."""
    from compliance.notices.operations import create_recipient, recipient_json

    recipient = create_recipient(resolve_actor(as_email), _given(fields))
    if as_json:
        print_json(recipient_json(recipient))
    else:
        click.echo(f"recipient {recipient.id} added: {recipient.name}")


@recipient_group.command("edit")
@click.argument("key")
@_recipient_options
@actor_option
@json_option
@transactional
def recipient_edit(key: str, as_email: str | None, as_json: bool, **fields: Any) -> None:
    """Change recipient KEY (its id or exact name); only the options given."""
    from compliance.notices.operations import find_recipient, recipient_json, update_recipient

    given = _given(fields)
    if not given:
        raise invalid("nothing to change: give at least one option")
    recipient = update_recipient(find_recipient(key), resolve_actor(as_email), given)
    if as_json:
        print_json(recipient_json(recipient))
    else:
        click.echo(f"recipient {recipient.id} saved: {recipient.name}")
