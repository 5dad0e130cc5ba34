"""The chronology a packet prints, and the timeline drawn from it.

Outgoing packets (takedown, referral) carry a chronology of the *conduct* (first and last
observation per exhibit) and of notices already sent; a workflow step appears only when counsel
added it to the composition with the wording to print. The memo has the whole workflow history
with reasons instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

from compliance.errors import InvalidInput
from compliance.packets.context.exhibits import Exhibit
from compliance.packets.context.facts import Gathered
from compliance.packets.timeline import Mark, Span, timeline_svg


@dataclass(frozen=True)
class ChronologyEntry:
    key: str
    when: datetime
    text: str
    internal: bool = False


def chronology(g: Gathered, exhibits: tuple[Exhibit, ...]) -> list[ChronologyEntry]:
    """Outgoing packets: the conduct and our notices; internal steps only as counsel added them.

    The memo has the whole workflow history with reasons instead.
    """
    if g.packet_type == "memo":
        return [
            ChronologyEntry(
                s.key,
                s.when,
                f"{s.what} ({s.who})" + (f": {s.reason}" if s.reason else ""),
                internal=True,
            )
            for s in g.steps
        ]
    entries = []
    for e in exhibits:
        if e.observed_from and e.observed_to:
            label = f"{e.kind_label} (Exhibit {e.number})"
            entries.append(
                ChronologyEntry(f"{e.key}:first", e.observed_from, f"First observed: {label}")
            )
            entries.append(
                ChronologyEntry(f"{e.key}:last", e.observed_to, f"Last observed: {label}")
            )
    for n in g.notices:
        kind = "Takedown notice" if n.packet_type == "takedown" else "Referral"
        entries.append(ChronologyEntry(n.key, n.when, f"{kind} sent to {n.recipient}"))
    excluded = set(g.composition.chronology_excluded)
    entries = [e for e in entries if e.key not in excluded]
    steps = {s.key: s for s in g.steps}
    for key, wording in g.composition.chronology_internal.items():
        if key not in steps:
            raise InvalidInput(
                "some packet fields are not valid",
                details={"chronology_internal": f"{key} is not a workflow step of this case"},
            )
        entries.append(ChronologyEntry(key, steps[key].when, wording, internal=True))
    return sorted(entries, key=lambda e: (e.when, e.key))


def conduct_timeline(exhibits: tuple[Exhibit, ...], entries: list[ChronologyEntry]) -> Markup:
    """The periods each exhibit observed the conduct, marked with the chronology's events."""
    spans = [
        Span(f"Exhibit {e.number}: {e.kind_label}", e.observed_from, e.observed_to)
        for e in exhibits
        if e.observed_from and e.observed_to
    ]
    marks = [Mark(e.when, e.text) for e in entries if not e.key.endswith((":first", ":last"))]
    return timeline_svg(spans, marks, "Periods in which the conduct was observed")
