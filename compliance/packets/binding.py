"""What binds a final packet to its preview: the inputs a document was built from, their digest,
and, when a final build's inputs differ from its preview's, what changed in words.

The inputs are everything a reader of the packet would see change, except what is expected to
move between a preview and the final build: the build date, the Bates numbers, the DRAFT mark,
and custody events recorded after the preview (the preview's own download among them).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def inputs_of(context: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a built document (a plain, JSON-ready dictionary)."""
    doc = context["doc"]
    certification = context["certification"]
    return {
        "type": doc["type"],
        "basis": doc["basis"],
        "case": context["case"],
        "period": context["period"],
        "narrative": str(context["narrative"]),
        "summary": str(context["summary"]),
        "signatory": context["signatory"],
        "custodian": certification["custodian"] if certification else None,
        "organisation": context["organisation"],
        "composition": context["composition"].stored(),
        "exhibits": [
            {
                "number": e.number,
                "key": e.key,
                "description": e.description,
                "source": e.source,
                "sha256": e.sha256,
                "files": [[f.name, f.sha256, f.reproduction] for f in e.files],
            }
            for e in context["exhibits"]
        ],
        "clauses": [[c.cite, c.heading, c.text, c.note, c.difference] for c in context["clauses"]],
        "chronology": [[e.key, e.when, e.text] for e in context["chronology"]],
        "identifiers": [[i.key, i.party, i.shown_as] for i in context["identifiers"]],
        "notes": [[n.author, n.when, n.body, n.privileged] for n in context["notes"]],
    }


def canonical(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs as stored: dates as ISO text, tuples as lists."""
    return json.loads(json.dumps(inputs, default=_text, sort_keys=True))


def digest(inputs: dict[str, Any]) -> str:
    body = json.dumps(canonical(inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


LABELS = {
    "type": "packet type",
    "basis": "legal basis",
    "case": "case details (matter, accused party, jurisdiction)",
    "period": "period of conduct",
    "narrative": "narrative",
    "summary": "case summary",
    "signatory": "signatory",
    "custodian": "records custodian",
    "organisation": "organisation details",
    "composition": "composition",
    "clauses": "clauses cited",
    "chronology": "chronology",
    "identifiers": "identifiers and their parties",
    "notes": "notes",
}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between a preview's inputs and a final build's, one line per change."""
    before, after = canonical(before), canonical(after)
    lines = []
    old = {e["key"]: e for e in before.get("exhibits", [])}
    new = {e["key"]: e for e in after.get("exhibits", [])}
    for key in sorted(old.keys() - new.keys()):
        lines.append(f"exhibit {key} is no longer in the packet")
    for key in sorted(new.keys() - old.keys()):
        lines.append(f"exhibit {key} was added (sha256 {new[key]['sha256'][:16]}…)")
    for key in sorted(old.keys() & new.keys()):
        if old[key] != new[key]:
            what = [f for f in ("number", "description", "source", "sha256", "files")]
            differing = [f for f in what if old[key].get(f) != new[key].get(f)]
            lines.append(f"exhibit {key} changed: {', '.join(differing)}")
    for name, label in LABELS.items():
        if before.get(name) != after.get(name):
            if isinstance(before.get(name), dict) and isinstance(after.get(name), dict):
                keys = sorted(
                    k
                    for k in before[name].keys() | after[name].keys()
                    if before[name].get(k) != after[name].get(k)
                )
                lines.append(f"{label} changed: {', '.join(keys)}")
            else:
                lines.append(f"{label} changed")
    return lines
