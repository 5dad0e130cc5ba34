"""The audit export as a readable PDF report, through the project's one PDF renderer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template

from compliance.packets.render import html_to_pdf


def render_report(header: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    """Period, filters, counts by action, the events, verification result and chain head."""
    created = datetime.strptime(header["generated_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    html = render_template("audit/report.html", header=header, events=events, created=created)
    return html_to_pdf(html, created=created).pdf
