"""`compliance intel export|import|rematch`: industry intel sharing from scripts."""

from __future__ import annotations

from pathlib import Path

import click

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
