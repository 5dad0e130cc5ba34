"""Building a packet, in the stages the worker runs: take it, lay it out, reserve its Bates
range, write, sign and store it; or mark it failed with why.

Each stage flushes and audits and none commits: the worker (`compliance.packets.tasks`) commits
between them, because what a build reserves must outlive its failure (see `bates`). A build
runs off the request path, in the scheduler or `compliance packet work`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import update

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.extensions import db
from compliance.packets import binding, render
from compliance.packets import context as ctx
from compliance.packets.models import BatesGap, Packet
from compliance.packets.operations.bates import counter_value, reserve_range
from compliance.packets.operations.gathering import Document, attachments_for, document_of, gather
from compliance.packets.operations.requests import get_packet

MAX_LAYOUT_ATTEMPTS = 5


@dataclass
class BuildResult:
    packet: Packet
    pdf: bytes | None


@dataclass(frozen=True)
class Layout:
    """A packet's document laid out; a final's with the Bates numbers it was laid out with."""

    doc: Document
    laid_out: render.LaidOut
    bates: render.Bates | None


def _claim(packet_id: int, now: datetime) -> bool:
    """Move a queued packet to rendering; False when another worker already took it."""
    result = db.session.execute(
        update(Packet)
        .where(Packet.id == packet_id, Packet.status == "queued")
        .values(status="rendering", started_at=now, built_at=now)
    )
    return result.rowcount == 1


def start_build(packet_id: int, now: datetime) -> Packet | None:
    """Take a queued packet for building (rendering since `now`); None when another worker
    already took it. The worker commits at once, so that no other takes it too."""
    if not _claim(packet_id, now):
        return None
    packet = get_packet(packet_id)
    record(
        "packet.rendering",
        actor=Actor.system("packet-build"),
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={"built_at": now},
    )
    return packet


def _check_bound_to_preview(packet: Packet, doc: Document) -> None:
    """A final packet is built from exactly what its preview showed, or not at all."""
    if packet.preview_id is None:
        return
    preview = get_packet(packet.preview_id)
    if doc.inputs_sha256 != preview.inputs_sha256:
        changes = binding.changes(preview.inputs or {}, doc.inputs)
        raise render.RenderError(
            f"the inputs changed since preview {preview.id}: " + "; ".join(changes)
        )


def document_for_build(packet: Packet) -> Document:
    """The packet's document from the facts as they are now (a final's, bound to its preview)."""
    doc = document_of(gather(packet))
    _check_bound_to_preview(packet, doc)
    return doc


def lay_out(packet: Packet, doc: Document) -> Layout:
    """Lay the document out; a final with the Bates numbers the counter would hand out next."""
    built_at = doc.gathered.built_at
    html = render.render_html(
        packet.packet_type,
        {**doc.context, "toc": ctx.toc(doc.context), "document_created": built_at},
    )
    images = doc.context["images"]
    if packet.draft:
        return Layout(doc, render.layout(html, created=built_at, images=images), None)
    bates = render.Bates(packet.bates_prefix, counter_value(packet.bates_prefix) + 1)
    laid_out = render.layout(html, bates=bates, created=built_at, images=images)
    return Layout(doc, laid_out, bates)


def reserve_numbers(packet: Packet, layout: Layout) -> Layout | None:
    """Reserve the Bates range `layout` was numbered with and record it on the packet; None
    when another build took those numbers first (lay out again). The layout returned carries
    the range in its manifest. The worker commits promptly: the counter row stays locked."""
    assert layout.bates is not None, "a draft has no Bates numbers"
    pages = layout.laid_out.pages
    first = reserve_range(layout.bates.prefix, pages, layout.bates.first - 1, packet=packet)
    if first is None:
        return None
    packet.bates_first, packet.bates_last = first, first + pages - 1
    packet.page_count = pages
    g = replace(layout.doc.gathered, bates_first=packet.bates_first, bates_last=packet.bates_last)
    return replace(layout, doc=replace(layout.doc, gathered=g))


def _signing_configured() -> bool:
    path = current_app.config.get("SIGNING_KEY_PATH")
    return bool(path) and Path(path).is_file()


def _store(pdf: bytes) -> str:
    """Write-once, content-addressed: the evidence blob store."""
    from compliance.evidence.store import blob_store

    sha256, _created = blob_store().put(pdf)
    return sha256


def _written(packet: Packet, layout: Layout, sign: bool | None) -> tuple[bytes, bool, str | None]:
    """The PDF with its attachments, signed when asked (by default: a final, when a signing
    key is configured); whether it is signed, and by whom."""
    pdf = layout.laid_out.write(attachments_for(layout.doc))
    if sign is None:
        sign = _signing_configured() and not packet.draft
    if not sign:
        return pdf, False, None
    from compliance.packets.signing import sign_pdf, signer_name

    signer = signer_name()
    pdf = sign_pdf(pdf, reason=f"{packet.packet_type} packet {packet.id} for {packet.case.ref}")
    return pdf, True, signer


def store_packet(packet: Packet, layout: Layout, *, sign: bool | None = None) -> BuildResult:
    """Write, sign and store the laid-out packet: it is `stored`, with its hash and inputs."""
    pdf, signed, signer = _written(packet, layout, sign)
    sha256 = _store(pdf)
    doc, pages = layout.doc, layout.laid_out.pages
    packet.sha256 = sha256
    packet.size_bytes = len(pdf)
    packet.page_count = pages
    packet.signed = signed
    packet.signer = signer
    packet.inputs = doc.inputs
    packet.inputs_sha256 = doc.inputs_sha256
    packet.status = "stored"
    packet.failure_reason = None
    record(
        "packet.stored",
        actor=Actor.system("packet-build"),
        object_type="packet",
        object_id=packet.id,
        case=packet.case,
        details={
            "sha256": sha256,
            "size": len(pdf),
            "pages": pages,
            "bates": packet.bates_range,
            "signed": signed,
            "template_version": packet.template_version,
            "inputs_sha256": doc.inputs_sha256,
            "preview_id": packet.preview_id,
            "exhibits": [e.sha256 for e in doc.context["exhibits"]],
        },
    )
    return BuildResult(packet, pdf)


def mark_failed(packet_id: int, reason: str, *, reserved: bool | None = None) -> Packet:
    """Mark a build failed with its reason; record its reserved Bates range as a gap.

    `reserved=False` says the build failed before its range was committed (nothing to record);
    None (a stale build found by the sweep) trusts what the packet row holds.
    """
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
    return packet
