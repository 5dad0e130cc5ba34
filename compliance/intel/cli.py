"""`compliance intel export|import|rematch`: industry intel sharing from scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from compliance.cli import actor_option, resolve_actor, transactional


@click.group("intel")
def intel_group() -> None:
    """Share indicators with other labs (STIX 2.1, TLP 2.0) and match what they send."""


def _subject_ids(case, specs: tuple[str, ...]) -> list[int] | None:  # noqa: ANN001
    from compliance.errors import InvalidInput
    from compliance.evidence.schema import normalise_subject
    from compliance.intel.operations import case_subject_rows

    if not specs:
        return None
    by_key = {(s.type, s.value): s.id for s in case_subject_rows(case)}
    ids = []
    for spec in specs:
        kind, _, value = spec.partition(":")
        try:
            key = (kind, normalise_subject(kind, value))
        except ValueError as error:
            raise InvalidInput(f"--subject {spec}: {error}") from None
        if key not in by_key:
            raise InvalidInput(f"--subject {spec}: not a subject of {case.ref}")
        ids.append(by_key[key])
    return ids


@intel_group.command("export")
@click.argument("ref")
@click.option("--tlp", required=True, help="CLEAR, GREEN, AMBER, AMBER+STRICT or RED.")
@click.option("--recipient", default="industry forum", show_default=True)
@click.option(
    "--subject",
    "subjects",
    multiple=True,
    metavar="TYPE:VALUE",
    help="Share this subject (repeatable). Default: every hashed-type subject of the case; "
    "IP prefixes and e-mail domains only when named here.",
)
@click.option(
    "--finding",
    "findings",
    multiple=True,
    type=int,
    help="Summarise this finding (repeatable). Default: our own detectors' findings.",
)
@click.option("--note", default="", help="A note to recipients (no customer identifiers).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True))
@actor_option
@transactional
def intel_export(
    ref: str,
    tlp: str,
    recipient: str,
    subjects: tuple[str, ...],
    findings: tuple[int, ...],
    note: str,
    output: str,
    as_email: str | None,
) -> None:
    """Export case REF as a STIX 2.1 bundle to a file; recorded and audited."""
    from compliance.cases.operations import get_case
    from compliance.intel.operations import export_case, stored_bundle

    case = get_case(ref)
    record = export_case(
        case,
        resolve_actor(as_email),
        tlp=tlp,
        recipient=recipient,
        subject_ids=_subject_ids(case, subjects),
        finding_ids=list(findings) if findings else None,
        note=note,
    )
    Path(output).write_bytes(stored_bundle(record.sha256))
    click.echo(
        f"{case.ref}: export {record.id} to {record.recipient} {record.tlp_label} "
        f"{len(record.shared_subjects)} indicator(s), {len(record.shared_findings)} finding "
        f"summary(ies) -> {output}"
    )
    click.echo(f"sha256={record.sha256}")


@intel_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", required=True, help="The lab that sent the bundle.")
@actor_option
@transactional
def intel_import(path: str, source: str, as_email: str | None) -> None:
    """Validate and keep a bundle from another lab, then match it against our subjects."""
    from compliance.intel.operations import import_bundle

    file = Path(path)
    outcome = import_bundle(
        file.read_bytes(), resolve_actor(as_email), source=source, filename=file.name
    )
    record = outcome.intel_import
    if outcome.duplicate:
        click.echo(f"already received as import {record.id} ({record.tlp_label}); nothing changed")
        return
    cases = sorted({m.case.ref for m in outcome.matches})
    click.echo(
        f"import {record.id} from {record.source} {record.tlp_label}"
        f"{' (assumed: unmarked)' if record.tlp_assumed else ''}: "
        f"{record.indicator_count} indicator(s), {len(outcome.matches)} match(es)"
        + (f" on {', '.join(cases)}" if cases else "")
    )
    click.echo(f"sha256={record.sha256}")


@intel_group.command("rematch")
@actor_option
@transactional
def intel_rematch(as_email: str | None) -> None:
    """Match every kept bundle against subjects that arrived since it was last matched."""
    from compliance.intel.operations import match_imports

    matches = match_imports(resolve_actor(as_email))
    cases = sorted({m.case.ref for m in matches})
    click.echo(f"{len(matches)} new match(es)" + (f" on {', '.join(cases)}" if cases else ""))


# ---------------------------------------------------------------- TAXII 2.1
@intel_group.group("collections")
def collections_group() -> None:
    """Our TAXII collections: one per sharing community, capped at a TLP."""


@collections_group.command("create")
@click.option("--title", required=True)
@click.option("--community", required=True, help="The sharing community that reads it.")
@click.option("--max-tlp", required=True, help="CLEAR, GREEN, AMBER or AMBER+STRICT (never RED).")
@click.option("--description", default="")
@actor_option
@transactional
def collections_create(
    title: str, community: str, max_tlp: str, description: str, as_email: str | None
) -> None:
    """Create a collection; its id (what partners configure) is printed on the last line."""
    from compliance.intel.taxii_server import create_collection

    collection = create_collection(
        resolve_actor(as_email),
        title=title,
        community=community,
        max_tlp=max_tlp,
        description=description,
    )
    click.echo(
        f"collection '{collection.title}' for {collection.community} up to {collection.tlp_label}"
    )
    click.echo(collection.taxii_id)


@collections_group.command("list")
@with_appcontext
def collections_list() -> None:
    """Collections with their TAXII ids and caps."""
    from compliance.intel.taxii_server import list_collections

    for c in list_collections():
        click.echo(f"{c.taxii_id}  {c.tlp_label:<18} {c.title} ({c.community})")


@intel_group.group("partner-tokens")
def partner_tokens_group() -> None:
    """Partner labs' tokens for our TAXII server (hashed, one collection each, revocable)."""


@partner_tokens_group.command("create")
@click.option("--partner", required=True, help="The partner organisation, as exports name it.")
@click.option("--collection", "collection_ref", required=True, help="The collection id.")
@actor_option
@transactional
def partner_tokens_create(partner: str, collection_ref: str, as_email: str | None) -> None:
    """Issue a token; printed once, alone on the last line (only its hash is kept)."""
    from compliance.intel.taxii_server import create_partner_token, find_collection

    token, raw = create_partner_token(
        resolve_actor(as_email), partner=partner, collection=find_collection(collection_ref)
    )
    click.echo(f"token {token.id} for {token.partner} on collection {token.collection.taxii_id}")
    click.echo(raw)


@partner_tokens_group.command("list")
@with_appcontext
def partner_tokens_list() -> None:
    from compliance.intel.taxii_server import list_partner_tokens

    for t in list_partner_tokens():
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        click.echo(f"{t.id}  {t.prefix}…  {t.partner}  {t.collection.taxii_id}  {state}, {used}")


@partner_tokens_group.command("revoke")
@click.argument("token_id", type=int)
@actor_option
@transactional
def partner_tokens_revoke(token_id: int, as_email: str | None) -> None:
    from compliance.intel.taxii_server import revoke_partner_token

    token = revoke_partner_token(resolve_actor(as_email), token_id)
    click.echo(f"token {token.id} for {token.partner} revoked")


@intel_group.command("publish")
@click.argument("ref")
@click.argument("export_id", type=int)
@click.option("--collection", "collection_ref", required=True)
@actor_option
@transactional
def intel_publish(ref: str, export_id: int, collection_ref: str, as_email: str | None) -> None:
    """Serve a confirmed export of case REF from one of our TAXII collections."""
    from compliance.cases.operations import get_case
    from compliance.intel.operations import get_export
    from compliance.intel.taxii_server import find_collection, publish_export

    export = get_export(get_case(ref), export_id)
    publish_export(resolve_actor(as_email), export, find_collection(collection_ref))
    click.echo(f"export {export.id} ({export.tlp_label}) published in {collection_ref}")


@intel_group.group("feeds")
def feeds_group() -> None:
    """Partner labs' TAXII collections we pull from (and push to)."""


def _read_secret() -> str:
    if sys.stdin.isatty():
        return click.prompt("Token or password", hide_input=True)
    return sys.stdin.readline().rstrip("\n")


@feeds_group.command("add")
@click.option("--partner", required=True, help="The partner lab (the source of its imports).")
@click.option("--url", required=True, help="Their TAXII 2.1 API root URL.")
@click.option("--collection", required=True, help="Their collection id.")
@click.option("--username", default="", help="For HTTP Basic; without it the secret is a token.")
@actor_option
@transactional
def feeds_add(partner: str, url: str, collection: str, username: str, as_email: str | None) -> None:
    """Register a partner's collection; the credential is read from a prompt or one stdin line."""
    from compliance.intel.taxii_client import add_feed

    secret = _read_secret()
    feed = add_feed(
        resolve_actor(as_email),
        partner=partner,
        api_root_url=url,
        collection=collection,
        username=username,
        secret=secret,
    )
    click.echo(f"feed {feed.id}: {feed.partner} {feed.api_root_url} collection {feed.collection}")


@feeds_group.command("set-secret")
@click.argument("feed_id", type=int)
@actor_option
@transactional
def feeds_set_secret(feed_id: int, as_email: str | None) -> None:
    """Replace a feed's credential (from a prompt or one stdin line)."""
    from compliance.intel.taxii_client import get_feed, set_feed_secret

    set_feed_secret(resolve_actor(as_email), get_feed(feed_id), _read_secret())
    click.echo(f"feed {feed_id}: credential replaced")


@feeds_group.command("list")
@with_appcontext
def feeds_list() -> None:
    from compliance.intel.taxii_client import list_feeds

    for f in list_feeds():
        polled = f"{f.last_polled_at:%Y-%m-%d %H:%M}" if f.last_polled_at else "never"
        click.echo(
            f"{f.id}  {'active' if f.active else 'disabled'}  {f.partner}  {f.api_root_url}"
            f"  {f.collection}  polled {polled}: {f.last_result or '-'}"
        )


@feeds_group.command("poll")
@click.argument("feed_id", type=int)
@actor_option
@transactional
def feeds_poll(feed_id: int, as_email: str | None) -> None:
    """Pull from one feed now (the scheduler does it every 15 minutes)."""
    from compliance.intel.taxii_client import get_feed, poll_feed

    summary = poll_feed(get_feed(feed_id), resolve_actor(as_email))
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


@feeds_group.command("disable")
@click.argument("feed_id", type=int)
@actor_option
@transactional
def feeds_disable(feed_id: int, as_email: str | None) -> None:
    from compliance.intel.taxii_client import get_feed, set_feed_active

    set_feed_active(resolve_actor(as_email), get_feed(feed_id), False)
    click.echo(f"feed {feed_id} disabled")


@intel_group.command("push")
@click.argument("ref")
@click.argument("export_id", type=int)
@click.option("--feed", "feed_id", required=True, type=int)
@actor_option
@transactional
def intel_push(ref: str, export_id: int, feed_id: int, as_email: str | None) -> None:
    """Send a confirmed export of case REF to a partner's TAXII collection."""
    from compliance.cases.operations import get_case
    from compliance.intel.operations import get_export
    from compliance.intel.taxii_client import get_feed, push_export

    export = get_export(get_case(ref), export_id)
    result = push_export(resolve_actor(as_email), export, get_feed(feed_id))
    click.echo(" ".join(f"{k}={v}" for k, v in result.items()))
