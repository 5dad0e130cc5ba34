"""The regulator's export: the audit trail as JSON, CSV or a readable PDF report.

JSON and CSV carry every hashed field of every event plus its hash, and a header with
`first_prev_hash` and `filtered`, so `python -m compliance.audit.verify_export FILE` (standard
library only) recomputes the chain without trusting this system. Every export is itself
audited (`audit.exported`, with the filters and the SHA-256 of the file handed out).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.audit.chain import format_time, iter_events, record
from compliance.audit.models import AuditEvent
from compliance.audit.verify_export import (
    _ENCODER,
    CSV_COLUMNS,
    GENESIS_HASH,
    JSON_FIELDS,
    check_chain,
    check_subset,
)
from compliance.auth.permissions import can
from compliance.db import utcnow
from compliance.errors import InvalidInput, PermissionDenied
from compliance.extensions import db
from compliance.trail.checkpoints import last_verification, latest_checkpoint

FORMATS = ("json", "csv", "pdf")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}
EXPORT_FORMAT = "compliance-audit-export/v1"


@dataclass(frozen=True)
class ExportFilters:
    """What the export covers: a period (since inclusive, until exclusive) and/or one case."""

    since: datetime | None = None
    until: datetime | None = None
    case_ref: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "since": format_time(self.since) if self.since else None,
            "until": format_time(self.until) if self.until else None,
            "case": self.case_ref,
        }


@dataclass
class AuditExport:
    content: bytes
    fmt: str
    file_name: str
    sha256: str
    count: int
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]


def _seq_range(filters: ExportFilters) -> tuple[int, int | None]:
    """The contiguous seq range of the period (times are monotonic along the chain)."""
    low, high = 1, None
    if filters.since is not None:
        low = db.session.scalar(
            select(func.min(AuditEvent.seq)).where(AuditEvent.occurred_at >= filters.since)
        ) or (1 << 62)
    if filters.until is not None:
        high = (
            db.session.scalar(
                select(func.max(AuditEvent.seq)).where(AuditEvent.occurred_at < filters.until)
            )
            or 0
        )
    return low, high


def collect(filters: ExportFilters) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the events of an export (no audit record: see export_audit)."""
    from compliance.cases.retention import history_refs

    if filters.since and filters.until and filters.since >= filters.until:
        raise InvalidInput("the period is empty", details={"until": "must be after since"})
    low, high = _seq_range(filters)
    refs = history_refs(filters.case_ref) if filters.case_ref else None
    events = list(iter_events(start_seq=low, end_seq=high, case_refs=refs))
    filtered = refs is not None
    first_prev = events[0]["prev_hash"] if events else GENESIS_HASH if low <= 1 else None
    verification = check_subset(events) if filtered else check_chain(events, first_prev)
    head = db.session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    checkpoint = latest_checkpoint()
    last_check = last_verification()
    header = {
        "format": EXPORT_FORMAT,
        "generated_at": format_time(utcnow()),
        "filters": filters.describe(),
        "case_refs": refs,
        "filtered": filtered,
        "first_prev_hash": first_prev,
        "count": len(events),
        "counts_by_action": dict(sorted(Counter(e["action"] for e in events).items())),
        "chain_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "last_checkpoint": (
            {
                "seq": checkpoint.seq,
                "head_hash": checkpoint.head_hash,
                "created_at": format_time(checkpoint.created_at),
                "key_id": checkpoint.key_id,
                "file": checkpoint.file_name,
            }
            if checkpoint
            else None
        ),
        "last_full_verification": (
            {"seq": last_check.seq, "at": format_time(last_check.occurred_at), **last_check.details}
            if last_check and last_check.details
            else None
        ),
        "verification": {
            "ok": verification["ok"],
            "method": "each event's own hash" if filtered else "contiguous chain",
            "bad_seq": verification.get("bad_seq"),
            "problem": verification.get("problem"),
        },
        "canonical_form": (
            "sha256(prev_hash + '\\n' + json.dumps({seq, occurred_at, actor, action, "
            "object_type, object_id, case_id, case_ref, changes, details, request_id, "
            "prev_hash}, sort_keys=True, separators=(',', ':'), ensure_ascii=False))"
        ),
    }
    return header, events


def to_json(header: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    return (json.dumps({**header, "events": events}, ensure_ascii=False, indent=1) + "\n").encode(
        "utf-8"
    )


def to_csv(header: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    for name, value in header.items():
        buffer.write(f"# {name}: {json.dumps(value, ensure_ascii=False)}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        row = []
        for name in CSV_COLUMNS:
            value = event[name]
            if name in JSON_FIELDS:
                row.append("" if value is None else _ENCODER.encode(value))
            else:
                row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


def to_pdf(header: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    from compliance.trail.report import render_report

    return render_report(header, events, embedded=to_json(header, events))


def export_audit(
    actor: Actor,
    fmt: str,
    since: datetime | None = None,
    until: datetime | None = None,
    case_ref: str | None = None,
) -> AuditExport:
    """Build an export for a regulator and record that it was handed out (auditors only)."""
    if not can(actor, "audit.export"):
        raise PermissionDenied(f"{actor.role or 'this token'} may not export the audit trail")
    if fmt not in FORMATS:
        raise InvalidInput("unknown format", details={"format": "one of " + ", ".join(FORMATS)})
    if case_ref:
        from compliance.cases.models import CaseMerge

        known = db.session.scalar(
            select(AuditEvent.seq).where(AuditEvent.case_ref == case_ref).limit(1)
        ) or db.session.scalar(select(CaseMerge.id).where(CaseMerge.target_ref == case_ref))
        if not known:
            raise InvalidInput("no such case in the audit trail", details={"case": case_ref})
    filters = ExportFilters(since=since, until=until, case_ref=case_ref or None)
    header, events = collect(filters)
    writer = {"json": to_json, "csv": to_csv, "pdf": to_pdf}[fmt]
    content = writer(header, events)
    digest = hashlib.sha256(content).hexdigest()
    stamp = header["generated_at"][:19].replace(":", "").replace("-", "")
    scope = f"-{case_ref}" if case_ref else ""
    export = AuditExport(
        content=content,
        fmt=fmt,
        file_name=f"audit-export{scope}-{stamp}.{fmt}",
        sha256=digest,
        count=len(events),
        header=header,
    )
    record(
        "audit.exported",
        actor=actor,
        object_type="audit_export",
        object_id=export.file_name,
        details={
            "format": fmt,
            "filters": filters.describe(),
            "count": len(events),
            "sha256": digest,
            "first_seq": events[0]["seq"] if events else None,
            "last_seq": events[-1]["seq"] if events else None,
        },
    )
    return export
