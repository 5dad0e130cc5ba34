"""`compliance packet ...`: build, verify, mark sent, work the queue, make a demo signing key."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from compliance.cli import actor_option, resolve_actor, transactional
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.packets.models import CHANNELS, PACKET_TYPES


@click.group("packet")
def packet_group() -> None:
    """Evidence packets: build, verify, record sending."""


@packet_group.command("build")
@click.argument("ref")
@click.option("--type", "packet_type", required=True, type=click.Choice(PACKET_TYPES))
@click.option("--draft", is_flag=True, help="Watermarked DRAFT: no Bates numbers, never sent.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--recipient", default=None, help="Platform or agency that will receive it.")
@click.option("--url", "offending_url", default=None, help="Takedown: the offending model's URL.")
@click.option("--repository", default=None, help="Takedown: the repository holding the model.")
@click.option("--file", "files", multiple=True, help="Takedown: an offending file (repeatable).")
@click.option("--uploader", default=None, help="Takedown: the uploader's user name.")
@click.option("--remedy", default=None, help="Takedown: the remedy sought.")
@click.option("--no-sign", is_flag=True, help="Do not sign even when a signing key is set.")
@actor_option
@with_appcontext
def build(
    ref: str,
    packet_type: str,
    draft: bool,
    output: Path,
    recipient: str | None,
    offending_url: str | None,
    repository: str | None,
    files: tuple[str, ...],
    uploader: str | None,
    remedy: str | None,
    no_sign: bool,
    as_email: str | None,
) -> None:
    """Build a packet for case REF now (synchronously) and write it to -o FILE."""
    from compliance.cases.operations import get_case
    from compliance.packets.operations import build_packet, request_packet

    fields = {
        "recipient": recipient,
        "offending_url": offending_url,
        "repository": repository,
        "files": "\n".join(files) or None,
        "uploader": uploader,
        "remedy": remedy,
    }
    try:
        packet = request_packet(
            get_case(ref),
            packet_type,
            resolve_actor(as_email),
            draft=draft,
            fields={k: v for k, v in fields.items() if v},
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        raise click.ClickException(error.message + _details(error)) from error
    result = build_packet(packet.id, sign=False if no_sign else None)
    if result.pdf is None:
        raise click.ClickException(f"packet {packet.id} failed: {result.packet.failure_reason}")
    output.write_bytes(result.pdf)
    p = result.packet
    click.echo(
        f"packet {p.id} {p.packet_type}{' DRAFT' if p.draft else ''}: {p.page_count} pages, "
        f"Bates {p.bates_range or 'none'}, sha256={p.sha256}"
        f"{', signed' if p.signed else ''} -> {output}"
    )


def _details(error: OperationError) -> str:
    if isinstance(error.details, dict):
        return " (" + "; ".join(f"{k}: {v}" for k, v in error.details.items()) + ")"
    return ""


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
@click.option("--recipient", required=True)
@click.option("--channel", required=True, type=click.Choice(CHANNELS))
@click.option("--on", "sent_on", default=None, help="Date sent (YYYY-MM-DD, UTC). Default: today.")
@actor_option
@transactional
def mark_sent_command(
    packet_id: int, recipient: str, channel: str, sent_on: str | None, as_email: str | None
) -> None:
    """Record that final packet PACKET_ID was sent."""
    from compliance.packets.operations import get_packet, mark_sent

    when = (
        datetime.strptime(sent_on, "%Y-%m-%d").replace(tzinfo=UTC) if sent_on else datetime.now(UTC)
    )
    packet = mark_sent(
        get_packet(packet_id),
        resolve_actor(as_email),
        recipient=recipient,
        channel=channel,
        sent_on=when,
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
