"""The conduct timeline chart, drawn as SVG for the PDF.

Hand-written SVG rather than a charting library: the output must be byte-stable (pygal puts a
random id in every chart) and use only the SVG subset WeasyPrint draws reliably. Nothing is
clipped: row labels wrap onto two lines, the outer axis dates are anchored inside the chart,
and markers that would touch are stacked on separate lanes, each numbered and listed below.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

WIDTH, LABEL_W, ROW_H, AXIS_H, PAD = 680, 210, 26, 30, 12
LABEL_CHARS = 38  # characters per label line at 8.5 px in LABEL_W
MARK_R, MARK_GAP = 6, 16  # marker radius; centres closer than this share no lane
CAPTION_H = 13
COLOURS = ("#1f4e8c", "#8c3b1f", "#2f6b3a", "#6b4f8c", "#8c6d1f", "#1f7a8c", "#7a1f5c")


@dataclass(frozen=True)
class Span:
    """A period on one row (an exhibit's observation window)."""

    row: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Mark:
    """A moment: a notice we sent, or a step counsel chose to state."""

    when: datetime
    label: str


def _x(when: datetime, start: datetime, span: float) -> float:
    offset = (when - start).total_seconds() / span if span else 0.0
    return round(LABEL_W + offset * (WIDTH - LABEL_W - PAD), 2)


def _ticks(start: datetime, end: datetime, count: int = 4) -> list[datetime]:
    step = (end - start) / count
    return [start + step * i for i in range(count + 1)]


def _lanes(xs: list[float]) -> list[int]:
    """A lane per marker, so that no two markers on one lane are closer than MARK_GAP."""
    last: list[float] = []  # x of the last marker placed on each lane
    lanes = []
    for x in xs:
        for lane, previous in enumerate(last):
            if x - previous >= MARK_GAP:
                last[lane] = x
                lanes.append(lane)
                break
        else:
            last.append(x)
            lanes.append(len(last) - 1)
    return lanes


def timeline_svg(spans: Sequence[Span], marks: Sequence[Mark], title: str) -> Markup:
    """A swim-lane chart: one row per span, then numbered markers, then their captions."""
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
    marks = sorted(marks, key=lambda m: m.when)
    xs = [_x(m.when, start, total) for m in marks]
    lanes = _lanes(xs)
    lane_count = max(lanes) + 1 if lanes else 0
    marks_top = AXIS_H + len(rows) * ROW_H
    chart_bottom = marks_top + lane_count * (MARK_R * 2 + 4)
    height = chart_bottom + PAD + len(marks) * CAPTION_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-chart" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    ticks = _ticks(start, end)
    for index, tick in enumerate(ticks):
        x = _x(tick, start, total)
        anchor = "start" if index == 0 else "end" if index == len(ticks) - 1 else "middle"
        parts.append(
            f'<line x1="{x}" y1="{AXIS_H - 6}" x2="{x}" y2="{chart_bottom}" stroke="#d0d5dc" '
            'stroke-width="0.6"/>'
            f'<text x="{x}" y="{AXIS_H - 11}" font-size="9" text-anchor="{anchor}" '
            f'fill="#444">{tick.astimezone(UTC):%Y-%m-%d}</text>'
        )
    for index, row in enumerate(rows):
        y = AXIS_H + index * ROW_H
        colour = COLOURS[index % len(COLOURS)]
        lines = textwrap.wrap(row, LABEL_CHARS)[:2] or [""]
        if len(textwrap.wrap(row, LABEL_CHARS)) > 2:
            lines[1] = lines[1][: LABEL_CHARS - 1] + "…"
        first_y = y + ROW_H / 2 + 3 - (len(lines) - 1) * 5
        for number, line in enumerate(lines):
            parts.append(
                f'<text x="{LABEL_W - 8}" y="{first_y + number * 10:.1f}" font-size="8.5" '
                f'text-anchor="end" fill="#1b2430">{escape(line)}</text>'
            )
        for span in (s for s in spans if s.row == row):
            x1, x2 = _x(span.start, start, total), _x(span.end, start, total)
            parts.append(
                f'<rect x="{x1}" y="{y + 6}" width="{max(x2 - x1, 2):.2f}" '
                f'height="{ROW_H - 12}" fill="{colour}" fill-opacity="0.55" '
                f'stroke="{colour}" stroke-width="0.6"/>'
            )
    if marks:
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{marks_top + MARK_R + 5}" font-size="8.5" '
            'text-anchor="end" fill="#1b2430">Notices and steps</text>'
        )
    for number, (mark, x, lane) in enumerate(zip(marks, xs, lanes, strict=True), start=1):
        cy = marks_top + MARK_R + 2 + lane * (MARK_R * 2 + 4)
        parts.append(
            f'<circle cx="{x}" cy="{cy}" r="{MARK_R}" fill="#17202c"/>'
            f'<text x="{x}" y="{cy + 3}" font-size="7.5" text-anchor="middle" '
            f'fill="#ffffff">{number}</text>'
        )
        caption = f"{number}. {mark.when.astimezone(UTC):%Y-%m-%d} — {mark.label}"
        parts.append(
            f'<text x="{LABEL_W}" y="{chart_bottom + PAD + (number - 1) * CAPTION_H + 4}" '
            f'font-size="8.5" fill="#1b2430">{escape(caption[:110])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
