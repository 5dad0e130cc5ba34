"""The campaign/actions timeline chart, drawn as SVG for the PDF.

Hand-written SVG rather than a charting library: the output must be byte-stable (pygal puts a
random id in every chart) and use only the SVG subset WeasyPrint draws reliably.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

WIDTH, LABEL_W, ROW_H, AXIS_H, PAD = 680, 170, 22, 34, 10
COLOURS = ("#1f4e8c", "#8c3b1f", "#2f6b3a", "#6b4f8c", "#8c6d1f", "#1f7a8c", "#7a1f5c")


@dataclass(frozen=True)
class Span:
    """A period on one row (a detector's observation window, the incident period)."""

    row: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Mark:
    """A moment (one of our actions: case opened, approved, packet built...)."""

    when: datetime
    label: str


def _x(when: datetime, start: datetime, span: float) -> float:
    offset = (when - start).total_seconds() / span if span else 0.0
    return round(LABEL_W + offset * (WIDTH - LABEL_W - PAD), 2)


def _ticks(start: datetime, end: datetime, count: int = 5) -> list[datetime]:
    step = (end - start) / count
    return [start + step * i for i in range(count + 1)]


def timeline_svg(spans: Sequence[Span], marks: Sequence[Mark], title: str) -> Markup:
    """An SVG swim-lane chart: one row per source of spans, then a row of action markers."""
    times = [s.start for s in spans] + [s.end for s in spans] + [m.when for m in marks]
    if not times:
        return Markup("")
    start, end = min(times), max(times)
    if end - start < timedelta(days=1):
        end = start + timedelta(days=1)
    margin = (end - start) / 40
    start, end = start - margin, end + margin
    total = (end - start).total_seconds()
    rows = list(dict.fromkeys(s.row for s in spans))
    action_rows = 1 if marks else 0
    height = AXIS_H + (len(rows) + action_rows) * ROW_H + PAD
    if marks:
        height += ROW_H * 0.8 * min(len(marks), 8)  # room for the numbered action captions
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    # Axis with dated ticks.
    for tick in _ticks(start, end):
        x = _x(tick, start, total)
        parts.append(
            f'<line x1="{x}" y1="{AXIS_H - 6}" x2="{x}" '
            f'y2="{AXIS_H + (len(rows) + action_rows) * ROW_H}" stroke="#d0d5dc" '
            'stroke-width="0.6"/>'
        )
        parts.append(
            f'<text x="{x}" y="{AXIS_H - 12}" font-size="9" text-anchor="middle" '
            f'fill="#444">{tick.astimezone(UTC):%Y-%m-%d}</text>'
        )
    for index, row in enumerate(rows):
        y = AXIS_H + index * ROW_H
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + ROW_H * 0.65:.1f}" font-size="9.5" '
            f'text-anchor="end" fill="#1b2430">{escape(row[:34])}</text>'
        )
        for span in (s for s in spans if s.row == row):
            x1, x2 = _x(span.start, start, total), _x(span.end, start, total)
            parts.append(
                f'<rect x="{x1}" y="{y + 5}" width="{max(x2 - x1, 2):.2f}" '
                f'height="{ROW_H - 10}" fill="{colour}" fill-opacity="0.55" '
                f'stroke="{colour}" stroke-width="0.6"/>'
            )
    if marks:
        y = AXIS_H + len(rows) * ROW_H
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + ROW_H * 0.65:.1f}" font-size="9.5" '
            'text-anchor="end" fill="#1b2430">Our actions</text>'
        )
        for number, mark in enumerate(marks, start=1):
            x = _x(mark.when, start, total)
            parts.append(
                f'<circle cx="{x}" cy="{y + ROW_H / 2:.1f}" r="6" fill="#17202c"/>'
                f'<text x="{x}" y="{y + ROW_H / 2 + 3:.1f}" font-size="7.5" '
                f'text-anchor="middle" fill="#ffffff">{number}</text>'
            )
        caption_y = y + ROW_H + 6
        for number, mark in enumerate(marks[:8], start=1):
            parts.append(
                f'<text x="{LABEL_W}" y="{caption_y + (number - 1) * ROW_H * 0.8 + 8:.1f}" '
                f'font-size="8.5" fill="#1b2430">{number}. '
                f"{mark.when.astimezone(UTC):%Y-%m-%d} — {escape(mark.label[:90])}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
