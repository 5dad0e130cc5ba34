"""The audit export as a readable PDF report, through the project's one PDF renderer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template

from compliance.packets.render import PdfAttachment, html_to_pdf


def render_report(header: dict[str, Any], events: list[dict[str, Any]], embedded: bytes) -> bytes:
    """Period, filters, counts by action, the events, verification result and chain head.

    `embedded` (the JSON export of the same events) rides along as an associated file, so the
    standalone verifier checks a PDF report like any other export.
    """
    created = datetime.strptime(header["generated_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    from compliance.trail.present import present_events

    html = render_template(
        "audit/report.html", header=header, events=present_events(events), created=created
    )
    attachment = PdfAttachment(
        "audit-export.json",
        embedded,
        description="The audit events of this report as a verifiable JSON export",
        relationship="Data",
        media_type="application/json",
    )
    return html_to_pdf(html, attachments=[attachment], created=created).pdf
