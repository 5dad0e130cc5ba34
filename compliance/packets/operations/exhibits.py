"""The evidence exhibits a packet may carry: one candidate per finding and per uploaded file.

A finding's items (its record and attachments) make one exhibit; an uploaded file is one on its
own. Exhibits are numbered in the order their first item was collected. Each candidate carries
its files (their bytes only when a render needs them) and its chain of custody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from compliance.cases.models import Case
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.packets import context as ctx
from compliance.packets import render
from compliance.packets.operations.signatories import _user_of


def _partner_sources(case: Case) -> dict[int, Any]:
    """Findings of `case` derived from partners' intel -> the import they came from."""
    from compliance.intel.models import IntelImport, IntelMatch

    rows = db.session.execute(
        select(IntelMatch.finding_id, IntelImport)
        .join(IntelImport, IntelImport.id == IntelMatch.import_id)
        .join(Finding, Finding.id == IntelMatch.finding_id)
        .where(Finding.case_id == case.id)
    )
    return {finding_id: intel_import for finding_id, intel_import in rows}


def _evidence(case: Case, *, with_bytes: bool) -> list[ctx.Evidence]:
    """One exhibit candidate per finding (its record and attachments) and per uploaded file."""
    from compliance.evidence.store import blob_store

    current = _current_items(case)
    files = _Files(blob_store(), with_bytes, {i.id: i.name for i in current})
    partners = _partner_sources(case)
    evidence: list[ctx.Evidence] = []
    for (kind, key_id), group in _exhibit_groups(current).items():
        if kind == "item":
            evidence.append(_upload_exhibit(group, files))
        else:
            evidence.append(_finding_exhibit(key_id, group, partners.get(key_id), files))
    return evidence


def _current_items(case: Case) -> list[Any]:
    """The case's evidence items, correspondence and superseded versions left out."""
    from compliance.evidence.models import EvidenceItem

    items = list(
        db.session.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.case_id == case.id, EvidenceItem.role != "correspondence")
            .order_by(EvidenceItem.id)
        )
    )
    superseded = {i.supersedes_id for i in items if i.supersedes_id}
    return [i for i in items if i.id not in superseded]


def _exhibit_groups(items: list[Any]) -> dict[tuple[str, int], list[Any]]:
    """Items by the exhibit they make: ("finding", id) for a finding's, ("item", id) alone."""
    groups: dict[tuple[str, int], list[Any]] = {}
    for item in items:
        key = ("item", item.id) if item.finding_id is None else ("finding", item.finding_id)
        groups.setdefault(key, []).append(item)
    return groups


@dataclass(frozen=True)
class _Files:
    """Reads exhibits' files and custody; the bytes only when the render needs them."""

    store: Any
    with_bytes: bool
    names: dict[int, str]  # item id -> file name, for the custody rows

    def data(self, item: Any) -> bytes:
        from compliance.evidence.store import BlobDamaged, checked_bytes

        if not self.with_bytes:
            return b""
        try:
            return checked_bytes(self.store, item.sha256)
        except BlobDamaged as damage:
            raise render.RenderError(
                f"evidence item {item.id} is {damage.status} in the store (sha256={item.sha256})"
            ) from None

    def file(self, item: Any) -> ctx.ExhibitFile:
        return ctx.ExhibitFile(
            name=item.name,
            sha256=item.sha256,
            size=item.size_bytes,
            media_type=item.media_type,
            data=self.data(item),
        )

    def custody(self, rows: list[Any]) -> tuple[ctx.CustodyRow, ...]:
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
                details=self.names[e.item_id],
            )
            for e in events
        )


def _upload_exhibit(group: list[Any], files: _Files) -> ctx.Evidence:
    """An uploaded file, an exhibit on its own."""
    (item,) = group
    return ctx.Evidence(
        key=f"item:{item.id}",
        kind="upload",
        origin="upload",
        title=item.description or item.name,
        sha256=item.sha256,
        date=item.collected_at,
        received_at=item.created_at,
        uploaded_by=_uploader_name(item),
        upload_source=item.source,
        files=(files.file(item),),
        custody=files.custody(group),
    )


def _finding_exhibit(
    finding_id: int, group: list[Any], partner: Any | None, files: _Files
) -> ctx.Evidence:
    """A finding: its record, its other files, and where it came from (a detector, a partner)."""
    finding = group[0].finding
    main = next((i for i in group if i.role == "finding_record"), group[0])
    return ctx.Evidence(
        key=f"finding:{finding_id}",
        kind=finding.kind,
        origin="partner" if partner is not None else "detector",
        title=finding.summary,
        sha256=main.sha256,
        date=finding.observed_to,
        received_at=partner.imported_at if partner is not None else finding.ingested_at,
        observed_from=finding.observed_from,
        observed_to=finding.observed_to,
        detector=finding.detector_name,
        detector_version=finding.detector_version,
        partner=partner.source if partner is not None else "",
        tlp=partner.tlp if partner is not None else "",
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
        record=files.file(main),
        files=tuple(files.file(i) for i in group if i is not main),
        custody=files.custody(group),
    )


def _uploader_name(item: Any) -> str:
    user = _user_of(item.created_by)
    return f"{user.name} ({user.role})" if user is not None else item.created_by
