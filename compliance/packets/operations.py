"""Business rules for packets: request, build (render, reserve Bates, sign, store), send.

`request_packet`, `mark_sent` and `download_packet` flush in the caller's transaction like
every operation. `build_packet` is the exception and owns its transactions, because what it
reserves must outlive a failure: it runs in the worker (scheduler or CLI), never in a request.

Bates reservation (why it is shaped like this): the page count is only known after layout,
and the numbers are part of the layout. Holding the counter's row lock for a whole render would
serialise every writer for seconds (on SQLite, the whole database). So a build lays the
document out once with the *expected* first number (the counter's last value + 1; numbers are
fixed width, so the page count does not depend on them), then, in one short transaction that
also records the range on the packet, locks the counter row (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's write lock) and advances it only if it still holds the expected value.
If another build reserved first, the layout is redone with the new offset (rare). Ranges are
therefore continuous and never overlap; a build that fails after its range was committed
records the range as a gap, and the counter never goes back.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from compliance.audit.chain import READ_WINDOW, record, recorded_since
from compliance.auth.actor import Actor
from compliance.auth.permissions import can, require_permission
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied, WorkflowRefused
from compliance.extensions import db
from compliance.packets import context as ctx
from compliance.packets import render
from compliance.packets.models import (
    CHANNELS,
    EXTERNAL_TYPES,
    PACKET_TYPES,
    BatesCounter,
    BatesGap,
    Packet,
)

log = logging.getLogger(__name__)

FINAL_STATES = ("approved", "action_taken", "monitoring", "closed")
MAX_FIELD = 4000
MAX_LAYOUT_ATTEMPTS = 5
DEFAULT_ORGANISATION = {
    "name": "Meridian AI",
    "department": "Legal Department",
    "address": "1 Market Street, San Francisco, CA 94105, USA",
    "place": "San Francisco, California",
    "contact_email": "legal@lab.example",
    "phone": "",
}
_URL_RE = re.compile(r"^https://[^\s<>\"']+$")


def get_packet(packet_id: int, case: Case | None = None) -> Packet:
    packet = db.session.get(Packet, packet_id)
    if packet is None or (case is not None and packet.case_id != case.id):
        raise NotFound(f"no packet {packet_id}" + (f" in {case.ref}" if case else ""))
    return packet


def _may_read(packet: Packet, actor: Actor) -> bool:
    """A privileged memo is for those who read privileged notes (counsel); other types for all."""
    return packet.packet_type != "memo" or can(actor, "note.privileged")


def packets_for_case(case: Case, actor: Actor) -> list[Packet]:
    """The case's packets `actor` may see, newest first."""
    packets = db.session.scalars(
        select(Packet).where(Packet.case_id == case.id).order_by(Packet.id.desc())
    )
    return [p for p in packets if _may_read(p, actor)]


def sent_packet_types(case: Case) -> set[str]:
    """Types of final packets of this case that are stored and marked sent (workflow guard)."""
    return set(
        db.session.scalars(
            select(Packet.packet_type).where(
                Packet.case_id == case.id,
                Packet.draft.is_(False),
                Packet.status == "stored",
                Packet.sent_on.is_not(None),
            )
        )
    )


# ---------------------------------------------------------------- request
def _clean_fields(packet_type: str, draft: bool, fields: dict[str, Any]) -> dict[str, str]:
    unknown = set(fields) - set(ctx.REQUEST_FIELDS)
    if unknown:
        raise InvalidInput("unknown field(s): " + ", ".join(sorted(unknown)))
    clean = {k: str(v).strip() for k, v in fields.items() if v is not None and str(v).strip()}
    errors = {k: f"at most {MAX_FIELD} characters" for k, v in clean.items() if len(v) > MAX_FIELD}
    url = clean.get("offending_url")
    if url and not _URL_RE.match(url):
        errors["offending_url"] = "an https:// address"
    if packet_type == "takedown" and not draft:
        if not (clean.get("offending_url") or clean.get("repository")):
            errors["offending_url"] = "a takedown names the offending model's URL or repository"
        if not clean.get("recipient"):
            errors["recipient"] = "say which platform receives the notice"
    if packet_type == "referral" and not draft and not clean.get("recipient"):
        errors["recipient"] = "say which agency receives the referral"
    if errors:
        raise InvalidInput("some packet fields are not valid", details=errors)
    return clean


def request_packet(
    case: Case,
    packet_type: str,
    actor: Actor,
    *,
    draft: bool = False,
    fields: dict[str, Any] | None = None,
) -> Packet:
    """Queue a packet build. Final takedowns/referrals need an approved case and that action."""
    require_permission(actor, "packet.build")
    if packet_type not in PACKET_TYPES:
        raise InvalidInput(f"unknown packet type {packet_type!r}: one of {', '.join(PACKET_TYPES)}")
    if not draft and packet_type in EXTERNAL_TYPES:
        if case.state not in FINAL_STATES:
            raise WorkflowRefused(
                f"{case.ref} is {case.state}: a final {packet_type} needs the case approved "
                "(build a draft meanwhile)"
            )
        if packet_type not in (case.chosen_actions or []):
            raise WorkflowRefused(
                f"{packet_type} was not among the actions approved for {case.ref} "
                f"({', '.join(case.chosen_actions or []) or 'none'})"
            )
    clean = _clean_fields(packet_type, draft, fields or {})
    from compliance.intel.operations import check_packet_allowed

    check_packet_allowed(case, packet_type)  # TLP: restricted intel never goes outside
    packet = Packet(
        case=case,
        packet_type=packet_type,
        draft=draft,
        status="queued",
        request_fields=clean,
        template_version=ctx.TEMPLATE_VERSION,
        bates_prefix=None if draft else current_app.config["BATES_PREFIX"],
        requested_by=actor.label,
        requested_by_name=actor.name or actor.label,
    )
    db.session.add(packet)
    db.session.flush()
    record(
        "packet.requested",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=case,
        details={"type": packet_type, "draft": draft, "fields": sorted(clean)},
    )
    return packet


# ---------------------------------------------------------------- gathering facts
def _organisation() -> dict[str, str]:
    return DEFAULT_ORGANISATION | dict(current_app.config.get("PACKET_ORGANISATION") or {})


def _requester_role(packet: Packet) -> str:
    if packet.requested_by.startswith("user:"):
        from compliance.auth.operations import find_user

        user = find_user(packet.requested_by.removeprefix("user:"))
        if user is not None:
            return user.role
    return "counsel"


def _exhibits(case: Case) -> list[ctx.Exhibit]:
    """One exhibit per finding (its record and attachments) and per uploaded file."""
    from compliance.evidence.models import EvidenceItem
    from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

    items = list(
        db.session.scalars(
            select(EvidenceItem).where(EvidenceItem.case_id == case.id).order_by(EvidenceItem.id)
        )
    )
    superseded = {i.supersedes_id for i in items if i.supersedes_id}
    current = [i for i in items if i.id not in superseded]
    store = blob_store()

    def item_bytes(item: Any) -> bytes:
        try:
            return checked_bytes(store, item.sha256)
        except BlobDamaged as damage:
            raise render.RenderError(
                f"evidence item {item.id} is {damage.status} in the store (sha256={item.sha256})"
            ) from None

    def custody(rows: list[Any]) -> tuple[ctx.CustodyRow, ...]:
        events = sorted(
            (e for item in rows for e in item.custody), key=lambda e: (e.occurred_at, e.id)
        )
        return tuple(
            ctx.CustodyRow(
                when=e.occurred_at,
                action=e.action,
                who=e.actor_name or e.actor,
                role=e.actor_role or "",
                purpose=e.purpose or "",
                details=f"item {e.item_id}",
            )
            for e in events
        )

    def file_of(item: Any) -> ctx.ExhibitFile:
        return ctx.ExhibitFile(
            name=item.name,
            sha256=item.sha256,
            size=item.size_bytes,
            media_type=item.media_type,
            data=item_bytes(item),
        )

    # A finding's items make one exhibit; an uploaded file is one on its own. Exhibits are
    # numbered in the order their first item was collected.
    groups: dict[tuple[str, int], list[Any]] = {}
    for item in current:
        key = ("upload", item.id) if item.finding_id is None else ("finding", item.finding_id)
        groups.setdefault(key, []).append(item)

    exhibits: list[ctx.Exhibit] = []
    for number, ((kind, _id), group) in enumerate(groups.items(), start=1):
        if kind == "upload":
            (item,) = group
            exhibits.append(
                ctx.Exhibit(
                    number=number,
                    description=item.description or item.name,
                    kind="upload",
                    date=item.collected_at,
                    source=item.source,
                    source_version="",
                    sha256=item.sha256,
                    files=(file_of(item),),
                    custody=custody(group),
                )
            )
            continue
        finding = group[0].finding
        main = next((i for i in group if i.role == "finding_record"), group[0])
        item_bytes(main)
        exhibits.append(
            ctx.Exhibit(
                number=number,
                description=f"{ctx.KIND_LABELS.get(finding.kind, finding.kind)} — "
                f"finding {finding.external_id}",
                kind=finding.kind,
                date=finding.observed_to,
                source=finding.detector_name,
                source_version=finding.detector_version,
                sha256=main.sha256,
                observed_from=finding.observed_from,
                observed_to=finding.observed_to,
                summary=finding.summary,
                confidence=finding.confidence,
                severity=finding.severity,
                metrics=tuple(
                    sorted(
                        (str(k), v)
                        for k, v in (finding.metrics or {}).items()
                        if not isinstance(v, dict | list)
                    )
                ),
                subjects=tuple((s.get("type", ""), s.get("id", "")) for s in finding.subjects),
                files=tuple(file_of(i) for i in group if i is not main),
                custody=custody(group),
            )
        )
    return exhibits


def _clauses(case: Case) -> list[ctx.ClauseCitation]:
    from compliance.policies.operations import citations_for_case, incident_window

    window = incident_window(case)
    return [
        ctx.ClauseCitation(
            cite=c.citation(),
            heading=c.clause.heading,
            text=c.clause.text,
            note=c.note,
            difference=_difference_across_versions(c.clause, window),
        )
        for c in citations_for_case(case)
    ]


def _difference_across_versions(clause: Any, window: Any) -> str:
    """When the conduct spans several versions of the document, say how this clause differed.

    The rule (DOMAIN.md): cite the version in force during the conduct; if the conduct spans
    several, cite each and show the difference.
    """
    from compliance.policies.operations import clause_change, versions_in_force

    versions = versions_in_force(clause.version.document, window)
    if len(versions) < 2:
        return ""
    parts = []
    for older, newer in zip(versions, versions[1:], strict=False):
        change = clause_change(
            clause.number, older.clause(clause.number), newer.clause(clause.number)
        )
        if change.status == "unchanged":
            parts.append(f"§{clause.number} is identical in {older.label} and {newer.label}.")
        elif change.status == "added":
            parts.append(f"§{clause.number} was added in {newer.label}; {older.label} had none.")
        elif change.status == "removed":
            parts.append(f"§{clause.number} of {older.label} was removed in {newer.label}.")
        else:
            old_text = " ".join((change.old.heading + ": " + change.old.text).split())
            parts.append(
                f"In {older.label} (in force from {older.effective_from.isoformat()}) "
                f"§{clause.number} read: \u201c{old_text}\u201d"
            )
    return " ".join(parts)


def _actions(case: Case) -> list[ctx.ActionView]:
    rows = [ctx.ActionView(case.created_at, "Case opened", case.created_by)]
    for t in case.transitions:
        rows.append(
            ctx.ActionView(
                t.occurred_at,
                f"{t.from_state.replace('_', ' ').capitalize()} → {t.to_state.replace('_', ' ')}",
                t.actor_name,
                t.reason or "",
            )
        )
    return rows


def gather(packet: Packet) -> ctx.Gathered:
    """Everything this packet may draw on, read once from the database (before redaction)."""
    case = packet.case
    return ctx.Gathered(
        packet_id=packet.id,
        packet_type=packet.packet_type,
        draft=packet.draft,
        request=dict(packet.request_fields or {}),
        case={
            "ref": case.ref,
            "created_at": case.created_at,
            **case.snapshot(),
        },
        notes=tuple(ctx.NoteView(n.author, n.created_at, n.body, n.privileged) for n in case.notes),
        actions=tuple(_actions(case)),
        exhibits=tuple(_exhibits(case)),
        clauses=tuple(_clauses(case)),
        built_at=packet.built_at or utcnow().replace(microsecond=0),
        requested_by_name=packet.requested_by_name,
        requested_by_role=_requester_role(packet),
        organisation=_organisation(),
        bates_prefix=packet.bates_prefix,
        bates_first=packet.bates_first,
        bates_last=packet.bates_last,
    )


def attachments_for(g: ctx.Gathered) -> list[render.PdfAttachment]:
    """Files embedded in the PDF: the evidence originals the profile allows, then the manifest."""
    files = [
        render.PdfAttachment(f.name, f.data, description=f"Original evidence, SHA-256 {f.sha256}")
        for f in ctx.embedded_files(g)
    ]
    files.append(
        render.PdfAttachment(
            ctx.MANIFEST_NAME, ctx.manifest(g), description="Packet manifest", relationship="Data"
        )
    )
    return files


# ---------------------------------------------------------------- Bates counter
def counter_value(prefix: str) -> int:
    """The last Bates number issued for `prefix` (0 before the first packet)."""
    return (
        db.session.scalar(select(BatesCounter.last_number).where(BatesCounter.prefix == prefix))
        or 0
    )


def _ensure_counter(prefix: str) -> None:
    if db.session.get(BatesCounter, prefix) is None:
        from sqlalchemy.exc import IntegrityError

        try:
            with db.session.begin_nested():
                db.session.add(BatesCounter(prefix=prefix, last_number=0))
        except IntegrityError:
            pass  # created concurrently: fine, it exists


def reserve_range(
    prefix: str, count: int, expected_last: int, *, packet: Packet | None = None
) -> int | None:
    """Advance the counter by `count` if it still stands at `expected_last`; first number or None.

    Runs in the caller's transaction, which must commit promptly: the row stays locked until then.
    The reservation is audited (for `packet` when given): Bates numbers are never spent silently.
    """
    if count < 1:
        raise ValueError("a range has at least one number")
    _ensure_counter(prefix)
    current = db.session.scalar(
        select(BatesCounter.last_number)
        .where(BatesCounter.prefix == prefix)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if current != expected_last:
        return None
    db.session.execute(
        update(BatesCounter)
        .where(BatesCounter.prefix == prefix, BatesCounter.last_number == expected_last)
        .values(last_number=expected_last + count)
    )
    first, last = expected_last + 1, expected_last + count
    record(
        "packet.bates_reserved",
        actor=Actor.system("packet-build"),
        object_type="packet" if packet is not None else "bates_counter",
        object_id=packet.id if packet is not None else prefix,
        case=packet.case if packet is not None else None,
        details={"prefix": prefix, "first": first, "last": last},
    )
    return first


# ---------------------------------------------------------------- storage and signing
def _store(pdf: bytes) -> str:
    """Write-once, content-addressed: the evidence blob store."""
    from compliance.evidence.store import blob_store

    sha256, _created = blob_store().put(pdf)
    return sha256


def packet_bytes(packet: Packet) -> bytes:
    """The stored PDF, checked against the hash recorded when it was built."""
    from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

    if packet.status != "stored" or not packet.sha256:
        raise Conflict(f"packet {packet.id} is {packet.status}, there is no file to read")
    try:
        return checked_bytes(blob_store(), packet.sha256)
    except BlobDamaged as damage:
        raise Conflict(
            f"packet {packet.id} file is {damage.status} in the store (sha256={packet.sha256})"
        ) from None


def _signing_configured() -> bool:
    path = current_app.config.get("SIGNING_KEY_PATH")
    return bool(path) and Path(path).is_file()


# ---------------------------------------------------------------- build
@dataclass
class BuildResult:
    packet: Packet
    pdf: bytes | None


def _claim(packet_id: int, now: datetime) -> bool:
    """Move a queued packet to rendering; False when another worker already took it."""
    result = db.session.execute(
        update(Packet)
        .where(Packet.id == packet_id, Packet.status == "queued")
        .values(status="rendering", started_at=now, built_at=now)
    )
    return result.rowcount == 1


def _lay_out(g: ctx.Gathered, packet: Packet) -> tuple[render.LaidOut, render.Bates | None]:
    html = render.render_html(
        packet.packet_type, {**ctx.build_context(g), "document_created": g.built_at}
    )
    if packet.draft:
        return render.layout(html, created=g.built_at), None
    bates = render.Bates(packet.bates_prefix, counter_value(packet.bates_prefix) + 1)
    return render.layout(html, bates=bates, created=g.built_at), bates


def build_packet(
    packet_id: int, *, sign: bool | None = None, now: datetime | None = None
) -> BuildResult:
    """Render, number, sign and store a queued packet; on any error mark it failed with why.

    Commits (see the module docstring). Returns the packet and, when stored, its bytes.
    """
    system = Actor.system("packet-build")
    now = (now or utcnow()).replace(microsecond=0)
    if not _claim(packet_id, now):
        db.session.rollback()
        return BuildResult(get_packet(packet_id), None)
    packet = get_packet(packet_id)
    record(
        "packet.rendering",
        actor=system,
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={"built_at": now},
    )
    db.session.commit()
    reserved = False
    try:
        from compliance.intel.operations import check_packet_allowed

        # Intel under a restricted TLP may have arrived since the request.
        check_packet_allowed(packet.case, packet.packet_type)
        g = gather(packet)
        laid_out, bates = _lay_out(g, packet)
        if bates is not None:
            for _attempt in range(MAX_LAYOUT_ATTEMPTS):
                first = reserve_range(bates.prefix, laid_out.pages, bates.first - 1, packet=packet)
                if first is not None:
                    break
                db.session.rollback()  # another build took those numbers: lay out again
                laid_out, bates = _lay_out(g, packet)
            else:
                raise render.RenderError("could not reserve a Bates range (too much contention)")
            packet.bates_first, packet.bates_last = first, first + laid_out.pages - 1
            packet.page_count = laid_out.pages
            db.session.commit()  # the range (audited by reserve_range) is now spent
            reserved = True
            g = gather(packet)  # the manifest carries the reserved range
        pdf = laid_out.write(attachments_for(g))
        signed, signer = False, None
        if sign is None:
            sign = _signing_configured() and not packet.draft
        if sign:
            from compliance.packets.signing import sign_pdf, signer_name

            signer = signer_name()
            pdf = sign_pdf(
                pdf, reason=f"{packet.packet_type} packet {packet.id} for {packet.case.ref}"
            )
            signed = True
        sha256 = _store(pdf)
        packet.sha256 = sha256
        packet.size_bytes = len(pdf)
        packet.page_count = laid_out.pages
        packet.signed = signed
        packet.signer = signer
        packet.status = "stored"
        packet.failure_reason = None
        record(
            "packet.stored",
            actor=system,
            object_type="packet",
            object_id=packet.id,
            case=packet.case,
            details={
                "sha256": sha256,
                "size": len(pdf),
                "pages": laid_out.pages,
                "bates": packet.bates_range,
                "signed": signed,
                "template_version": packet.template_version,
                "exhibits": [e.sha256 for e in g.exhibits],
            },
        )
        db.session.commit()
        return BuildResult(packet, pdf)
    except Exception as error:  # noqa: BLE001 - any failure must leave a failed record
        db.session.rollback()
        log.exception("packet %s build failed", packet_id)
        mark_failed(packet_id, f"{type(error).__name__}: {error}", reserved=reserved)
        return BuildResult(get_packet(packet_id), None)


def mark_failed(packet_id: int, reason: str, *, reserved: bool | None = None) -> Packet:
    """Mark a build failed with its reason; record its reserved Bates range as a gap. Commits."""
    packet = get_packet(packet_id)
    db.session.refresh(packet)
    gap = None
    if packet.bates_first is not None and packet.status != "stored" and reserved is not False:
        gap = BatesGap(
            prefix=packet.bates_prefix,
            first_number=packet.bates_first,
            last_number=packet.bates_last,
            packet_id=packet.id,
            reason=reason[:2000],
        )
        db.session.add(gap)
    packet.status = "failed"
    packet.failure_reason = reason[:2000]
    db.session.flush()
    record(
        "packet.failed",
        actor=Actor.system("packet-build"),
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={
            "reason": reason[:500],
            "gap": None if gap is None else [gap.first_number, gap.last_number],
        },
    )
    db.session.commit()
    return packet


# ---------------------------------------------------------------- sending and reading
def mark_sent(
    packet: Packet,
    actor: Actor,
    *,
    recipient: str,
    channel: str,
    sent_on: datetime,
) -> Packet:
    """Record that a final external packet went out: to whom, how, when, and who says so."""
    require_permission(actor, "packet.build")
    if packet.draft:
        raise WorkflowRefused("a draft packet can never be marked as sent: build a final packet")
    if packet.packet_type not in EXTERNAL_TYPES:
        raise WorkflowRefused("an internal memo never leaves the building: it cannot be sent")
    if packet.status != "stored":
        raise WorkflowRefused(
            f"packet {packet.id} is {packet.status}: only stored packets are sent"
        )
    if packet.is_sent:
        raise Conflict(
            f"packet {packet.id} was already recorded as sent on {packet.sent_on:%Y-%m-%d}"
        )
    recipient = (recipient or "").strip()
    errors = {}
    if not recipient:
        errors["recipient"] = "say who received it"
    elif len(recipient) > 300:
        errors["recipient"] = "at most 300 characters"
    if channel not in CHANNELS:
        errors["channel"] = "one of " + ", ".join(CHANNELS)
    if sent_on is None or sent_on.tzinfo is None:
        errors["sent_on"] = "a date with a time zone"
    elif sent_on > utcnow():
        errors["sent_on"] = "cannot be in the future"
    elif packet.built_at and sent_on < packet.built_at.replace(hour=0, minute=0, second=0):
        errors["sent_on"] = "cannot be before the packet was built"
    if errors:
        raise InvalidInput("the sending record is not complete", details=errors)
    packet.sent_to, packet.sent_channel, packet.sent_on = recipient, channel, sent_on
    packet.sent_by, packet.sent_by_name = actor.label, actor.name or actor.label
    packet.sent_recorded_at = utcnow()
    db.session.flush()
    record(
        "packet.sent",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={
            "recipient": recipient,
            "channel": channel,
            "sent_on": sent_on,
            "sha256": packet.sha256,
            "bates": packet.bates_range,
        },
    )
    return packet


def download_packet(packet: Packet, actor: Actor, purpose: str = "downloaded") -> bytes:
    """The packet's bytes for a person; each download is a custody and an audit event."""
    require_permission(actor, "packet.view")
    if not _may_read(packet, actor):
        raise PermissionDenied("a privileged memo is for counsel only")
    data = packet_bytes(packet)
    _record_exhibit_custody(packet, actor, "exported", f"in packet {packet.id}: {purpose}")
    # Downloads repeated within minutes are one event (the exhibits' custody counts them).
    since = utcnow() - READ_WINDOW
    if not recorded_since(
        "packet.downloaded", actor=actor, object_type="packet", object_id=packet.id, since=since
    ):
        record(
            "packet.downloaded",
            actor=actor,
            object_type="packet",
            object_id=packet.id,
            case=packet.case,
            details={"sha256": packet.sha256, "purpose": purpose[:300]},
        )
    return data


def _record_exhibit_custody(packet: Packet, actor: Actor, action: str, purpose: str) -> None:
    """Each evidence item inside the packet gets a custody event: it left with the packet."""
    from compliance.evidence.models import EvidenceItem
    from compliance.evidence.operations import record_custody

    items = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == packet.case_id).order_by(EvidenceItem.id)
    )
    for item in items:
        record_custody(item, actor, action, purpose, details={"packet_id": packet.id})
