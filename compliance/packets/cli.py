"""`compliance packet ...`: build, verify, mark sent, work the queue, make a demo signing key."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from compliance.cli import (
    EXIT_FAILED,
    EXIT_INVALID,
    CommandFailed,
    actor_option,
    fail,
    json_option,
    print_json,
    resolve_actor,
    transactional,
)
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.packets.composition import BASES
from compliance.packets.models import CHANNELS, PACKET_TYPES, Packet


@click.group("packet")
def packet_group() -> None:
    """Evidence packets: build, verify, record sending."""


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint=option)
        pairs[key.strip()] = rest.strip()
    return pairs


def _text(value: str | None) -> str | None:
    """A text option: the value itself, or `-` to read it from standard input."""
    return sys.stdin.read() if value == "-" else value


@packet_group.command("build")
@click.argument("ref", required=False)
@click.option("--type", "packet_type", type=click.Choice(PACKET_TYPES))
@click.option("--draft", is_flag=True, help="A preview: watermarked DRAFT, no Bates numbers.")
@click.option(
    "--from-preview",
    "preview_id",
    type=int,
    help="Final build of preview (draft) packet ID's composition, bound to its inputs.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--basis", type=click.Choice(tuple(BASES)), help="Takedown: the legal basis.")
@click.option("--recipient", default=None, help="Platform or agency that will receive it.")
@click.option(
    "--recipient-id",
    type=int,
    default=None,
    help="A recipient of the directory (`compliance recipient list`): its name, contact and "
    "sharing-community membership.",
)
@click.option("--recipient-contact", default=None, help="Its notice address or designated agent.")
@click.option(
    "--in-community",
    is_flag=True,
    help="Counsel confirms the recipient is inside the intel-sharing community (TLP:AMBER).",
)
@click.option("--exhibit", "exhibits", multiple=True, help="An exhibit key (repeatable).")
@click.option("--exclude-entry", multiple=True, help="A chronology entry key to leave out.")
@click.option(
    "--add-entry", multiple=True, help="KEY=WORDING: add a workflow step with this wording."
)
@click.option("--narrative", default=None, help="Counsel's narrative (Markdown; - for stdin).")
@click.option("--url", "urls", multiple=True, help="Takedown: an offending URL (repeatable).")
@click.option("--repository", default=None, help="Takedown: the repository holding the model.")
@click.option("--file", "files", multiple=True, help="Takedown: an offending file (repeatable).")
@click.option("--uploader", default=None, help="Takedown: the uploader's user name.")
@click.option("--copyrighted-work", default=None, help="Copyright basis: the work (- for stdin).")
@click.option("--remedy", default=None, help="Takedown: the remedy sought.")
@click.option("--agency-contact", default=None, help="Referral: the person it is addressed to.")
@click.option("--estimated-value", default=None, help="Referral: estimated value.")
@click.option("--protective-measures", default=None, help="Referral: further measures in force.")
@click.option("--custodian", default=None, help="Referral: e-mail of the records custodian.")
@click.option("--party", "parties", multiple=True, help="IDENTIFIER=PARTY: correct the review.")
@click.option("--no-sign", is_flag=True, help="Do not sign even when a signing key is set.")
@json_option
@actor_option
@with_appcontext
def build(
    ref: str | None,
    packet_type: str | None,
    draft: bool,
    preview_id: int | None,
    output: Path,
    no_sign: bool,
    as_json: bool,
    as_email: str | None,
    **options: Any,
) -> None:
    """Build a packet now and write it to -o FILE.

    Compose and preview: `build REF --type T --draft [choices] -o preview.pdf` (any time).
    Then the final packet, signed by the counsel who composed it:
    `build --from-preview ID --as EMAIL -o final.pdf` (case approved for that action).
    Prints `packet ID ...`: ID is what --from-preview, `packet show` and `packet mark-sent ID`
    take (--json: one object with "id").
    """
    from compliance.cases.operations import get_case
    from compliance.packets.operations import get_packet, request_final, request_packet
    from compliance.packets.tasks import build_packet

    actor = resolve_actor(as_email)
    try:
        if preview_id is not None:
            if ref or packet_type or draft:
                raise click.UsageError("--from-preview takes the preview's composition as it is")
            packet = request_final(get_packet(preview_id), actor)
        else:
            if not (ref and packet_type):
                raise click.UsageError("give REF and --type (a preview), or --from-preview ID")
            if not draft:
                raise click.UsageError(
                    "a final packet is built from a preview: build with --draft first, check "
                    "it, then --from-preview ID --as YOUR_EMAIL"
                )
            packet = request_packet(get_case(ref), packet_type, actor, fields=_composition(options))
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        raise fail(error) from error
    result = build_packet(packet.id, sign=False if no_sign else None)
    if result.pdf is None:
        raise CommandFailed(
            f"packet {packet.id} failed: {result.packet.failure_reason}", EXIT_FAILED
        )
    output.write_bytes(result.pdf)
    p = result.packet
    kind = "preview (DRAFT)" if p.draft else f"final, from preview {p.preview_id}"
    if as_json:
        print_json(packet_json(p) | {"output": str(output)})
        return
    click.echo(
        f"packet {p.id} {p.packet_type} {kind}: {p.page_count} pages, "
        f"Bates {p.bates_range or 'none'}, sha256={p.sha256}"
        f"{', signed' if p.signed else ''} -> {output}"
    )


def _composition(options: dict[str, Any]) -> dict[str, Any]:
    """The composition the command-line choices describe (empty choices left out)."""
    fields = {
        "basis": options["basis"],
        "recipient": options["recipient"],
        "recipient_id": options["recipient_id"],
        "recipient_contact": options["recipient_contact"],
        "recipient_in_community": options["in_community"] or None,
        "exhibits": list(options["exhibits"]) or None,
        "chronology_excluded": list(options["exclude_entry"]) or None,
        "chronology_internal": _pairs(options["add_entry"], "--add-entry") or None,
        "narrative": _text(options["narrative"]),
        "offending_urls": list(options["urls"]) or None,
        "repository": options["repository"],
        "files": list(options["files"]) or None,
        "uploader": options["uploader"],
        "copyrighted_work": _text(options["copyrighted_work"]),
        "remedy": options["remedy"],
        "agency_contact": options["agency_contact"],
        "estimated_value": options["estimated_value"],
        "protective_measures": options["protective_measures"],
        "custodian": options["custodian"],
        "parties": _pairs(options["parties"], "--party") or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def packet_json(p: Packet) -> dict[str, Any]:
    """A packet as `packet build --json` and `packet list --json` print it."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": p.id,
        "case_ref": p.case.ref,
        "type": p.packet_type,
        "draft": p.draft,
        "basis": (p.request_fields or {}).get("basis"),
        "preview_id": p.preview_id,
        "inputs_sha256": p.inputs_sha256,
        "status": p.status,
        "failure_reason": p.failure_reason,
        "pages": p.page_count,
        "bates_first": p.bates_first,
        "bates_last": p.bates_last,
        "bates_range": p.bates_range,
        "sha256": p.sha256,
        "size": p.size_bytes,
        "signed": p.signed,
        "requested_by": p.requested_by,
        "requested_at": when(p.requested_at),
        "built_at": when(p.built_at),
        "sent_to": p.sent_to,
        "sent_channel": p.sent_channel,
        "sent_on": when(p.sent_on),
    }


@packet_group.command("list")
@click.argument("ref")
@json_option
@actor_option
@transactional
def list_packets(ref: str, as_json: bool, as_email: str | None) -> None:
    """List case REF's packets, newest first: ID, type, status, Bates range, sent."""
    from compliance.auth.permissions import require_permission
    from compliance.cases.operations import get_case
    from compliance.packets.operations import packets_for_case

    actor = resolve_actor(as_email)
    require_permission(actor, "case.view")
    packets = packets_for_case(get_case(ref), actor)
    if as_json:
        print_json({"case_ref": ref, "packets": [packet_json(p) for p in packets]})
        return
    if not packets:
        click.echo(f"no packets for {ref}")
    for p in packets:
        sent = f"sent {p.sent_on:%Y-%m-%d} to {p.sent_to}" if p.sent_on else "not sent"
        click.echo(
            f"{p.id}\t{p.packet_type}{' DRAFT' if p.draft else ''}\t{p.status}\t"
            f"Bates {p.bates_range or 'none'}\t{sent}"
        )


@packet_group.command("show")
@click.argument("packet_id", type=int)
@with_appcontext
def show(packet_id: int) -> None:
    """What packet PACKET_ID is made of: exhibits, chronology, identifiers by party.

    Before a final build, read the identifiers (the redaction review) and the chronology of
    the preview; the keys printed here are what --exhibit, --exclude-entry, --add-entry and
    --party take.
    """
    from compliance.packets.operations import composition_review, get_packet

    packet = get_packet(packet_id)
    for line in composition_review(packet):
        click.echo(line)


@packet_group.command("signatory")
@click.argument("email")
@click.option("--full-name", default=None)
@click.option("--title", default=None, help="e.g. Senior Counsel, Litigation")
@click.option("--organisation", default=None)
@click.option("--address", "postal_address", default=None, help="Postal address (\\n for lines).")
@click.option("--phone", default=None)
@click.option("--email", "contact_email", default=None, help="E-mail printed on packets.")
@click.option("--bar-admission", default=None, help="e.g. State Bar of California No. 123456")
@click.option("--custodian/--not-custodian", "records_custodian", default=None)
@click.option("--qualification", "custodian_qualification", default=None)
@actor_option
@transactional
def signatory(email: str, as_email: str | None, **fields: Any) -> None:
    """Set EMAIL's signatory profile (as that user with --as, or as the operator)."""
    from compliance.auth.operations import find_user
    from compliance.packets.operations import set_signatory_profile

    user = find_user(email)
    if user is None:
        raise CommandFailed(f"no user {email}", EXIT_INVALID)
    if fields.get("postal_address"):
        fields["postal_address"] = fields["postal_address"].replace("\\n", "\n")
    if fields.get("contact_email") is not None:
        fields["email"] = fields.pop("contact_email")
    else:
        fields.pop("contact_email", None)
    profile = set_signatory_profile(
        user, resolve_actor(as_email), {k: v for k, v in fields.items() if v is not None}
    )
    role = "records custodian" if profile.records_custodian else "signatory"
    click.echo(f"{email}: {role} profile saved ({profile.full_name}, {profile.title})")


@packet_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def verify(file: Path) -> None:
    """Check FILE against the registry (hash, Bates range) and its signature."""
    from compliance.packets.signing import verify_packet_file

    result = verify_packet_file(file.read_bytes())
    for fact in result.facts:
        click.echo(fact)
    if not result.ok:
        for problem in result.problems:
            click.echo(f"MISMATCH: {problem}", err=True)
        click.echo(f"packet verify FAILED: {file}", err=True)
        sys.exit(1)
    click.echo(f"packet verify OK: {file} is packet {result.packet_id} as stored")


@packet_group.command("mark-sent")
@click.argument("packet_id", type=int)
@click.option("--recipient", default="", help="Free text for a one-off recipient.")
@click.option("--recipient-id", type=int, default=None, help="A recipient of the directory.")
@click.option("--channel", required=True, type=click.Choice(CHANNELS))
@click.option("--on", "sent_on", default=None, help="Date sent (YYYY-MM-DD, UTC). Default: today.")
@click.option("--their-ref", "their_reference", default="", help="Their ticket or reference.")
@click.option(
    "--proof",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Proof of sending (receipt, confirmation e-mail): kept as evidence.",
)
@actor_option
@transactional
def mark_sent_command(
    packet_id: int,
    recipient: str,
    recipient_id: int | None,
    channel: str,
    sent_on: str | None,
    their_reference: str,
    proof: Path | None,
    as_email: str | None,
) -> None:
    """Record that final packet PACKET_ID (the id `packet build`/`packet list` print) was sent.

    It becomes a notice (`compliance notice list`), followed until it is resolved.
    """
    import mimetypes

    from compliance.notices.operations import Upload, mark_sent
    from compliance.packets.operations import get_packet

    try:
        when = (
            datetime.strptime(sent_on, "%Y-%m-%d").replace(tzinfo=UTC)
            if sent_on
            else datetime.now(UTC)
        )
    except ValueError:
        raise click.BadParameter(f"not a date YYYY-MM-DD: {sent_on}", param_hint="--on") from None
    packet = mark_sent(
        get_packet(packet_id),
        resolve_actor(as_email),
        recipient=recipient,
        recipient_id=recipient_id,
        channel=channel,
        sent_on=when,
        their_reference=their_reference,
        proof=(
            Upload(
                proof.name,
                mimetypes.guess_type(proof.name)[0] or "application/octet-stream",
                proof.read_bytes(),
            )
            if proof
            else None
        ),
    )
    click.echo(f"packet {packet.id} recorded as sent to {packet.sent_to} by {packet.sent_channel}")


@packet_group.command("work")
@click.option("--once", is_flag=True, help="Process the queue once and exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@with_appcontext
def work(once: bool, interval: float) -> None:
    """Build queued packets (what the scheduler does), until interrupted."""
    from compliance.db import writing_work
    from compliance.packets.tasks import build_queued_packets

    while True:
        # Like the scheduler's jobs: on SQLite each transaction takes the write lock when it
        # begins, so two workers (and the web) queue on the busy timeout instead of failing.
        with writing_work():
            results = build_queued_packets()
        for result in results:
            p = result.packet
            detail = p.failure_reason if p.status == "failed" else p.bates_range or "draft"
            click.echo(f"packet {p.id} ({p.case.ref} {p.packet_type}): {p.status} {detail}")
        if once:
            return
        time.sleep(interval)


@packet_group.command("demo-key")
@click.option("--force", is_flag=True, help="Replace an existing demo key.")
@with_appcontext
def demo_key(force: bool) -> None:
    """Make a self-signed PKCS#12 signing key (demo only) and point instance/config.py at it."""
    click.echo(ensure_demo_key(force=force))


def ensure_demo_key(force: bool = False) -> str:
    """Create the demo key once and record it in the instance configuration file."""
    from compliance.packets.signing import DEMO_KEY_NAME, make_demo_key

    instance = Path(current_app.instance_path)
    existing = instance / "signing" / DEMO_KEY_NAME
    configured = current_app.config.get("SIGNING_KEY_PATH")
    if configured and Path(configured).is_file() and not force:
        return f"signing key already configured: {configured}"
    if existing.exists() and not force:
        return f"demo key exists at {existing}; set SIGNING_KEY_PATH to use it"
    path, password = make_demo_key(instance)
    config_file = instance / "config.py"
    with config_file.open("a") as handle:
        handle.write(
            "\n# Demo packet signing key (self-signed; written by `compliance packet demo-key`).\n"
            f"SIGNING_KEY_PATH = {str(path)!r}\nSIGNING_KEY_PASSWORD = {password!r}\n"
        )
    config_file.chmod(0o600)
    current_app.config.update(SIGNING_KEY_PATH=str(path), SIGNING_KEY_PASSWORD=password)
    return f"demo signing key written to {path}; SIGNING_KEY_PATH set in {config_file}"
