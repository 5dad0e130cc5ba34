"""What counsel's approval covers, and what has changed since.

An approval is given to a case as it stood: the facts a packet states (title, summary, the
accused party, jurisdiction, the period of conduct, scale, domains, severity), the evidence
items it exhibits (each by its SHA-256) and the clauses it cites. `approval_content` takes
that snapshot; the approve transition stores it (and its SHA-256) on the transition row. The
case section is read here; the evidence and clauses sections come from the capabilities that
own them (they build on cases), through `section_providers`, filled by `compliance.hooks`.

Afterwards `approval_drift` compares the case with the snapshot of its latest approval. While
the case is `approved`, every operation that changes covered content (case edits, evidence
added or superseded, findings a detector attaches, intel matches, clauses cited or
withdrawn, a merge) calls `withdraw_if_changed`, which sends the case back to
`legal_review`, naming the change, so counsel approves what will actually be sent. Packet
builds call `approval_drift` before a final build, so a path that changed content without
passing here still cannot produce a final packet from a stale approval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from compliance.actor import Actor
from compliance.audit.chain import normalise, record
from compliance.cases.models import Case, CaseTransition
from compliance.extensions import db

# The case fields a takedown or referral states: a change to any of them changes the packet.
COVERED_FIELDS = (
    "title",
    "summary",
    "suspected_actor",
    "jurisdiction",
    "incident_start",
    "incident_end",
    "estimated_queries",
    "targeted_domains",
    "severity",
    "confidence",
)


# The sections an approval covers besides the case's own fields, in snapshot order, and who
# provides each: name -> function(case) -> {key: JSON value}, filled by compliance.hooks.
CONTRIBUTED_SECTIONS = ("evidence", "clauses")
SECTIONS = ("case", *CONTRIBUTED_SECTIONS)
section_providers: dict[str, Callable[[Case], dict[str, Any]]] = {}


def approval_content(case: Case) -> dict[str, Any]:
    """The content an approval of `case` covers now, as JSON-ready values.

    Raises RuntimeError when a section has no provider: a snapshot without it would never see
    that section change, and an approval would silently survive new evidence or clauses.
    """
    missing = [name for name in CONTRIBUTED_SECTIONS if name not in section_providers]
    if missing:
        raise RuntimeError(
            f"no provider for the approval section(s) {', '.join(missing)}: "
            "compliance.hooks.register_hooks() must run before approvals are taken or checked"
        )
    snapshot = case.snapshot()
    content = {"case": {name: snapshot[name] for name in COVERED_FIELDS}}
    for name in CONTRIBUTED_SECTIONS:
        content[name] = section_providers[name](case)
    return normalise(content)


def content_digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def latest_approval(case: Case) -> CaseTransition | None:
    return next((t for t in reversed(case.transitions) if t.to_state == "approved"), None)


def _describe(section: str, key: str, before: Any, after: Any) -> dict[str, Any]:
    if section == "case":
        what = f"case field {key.replace('_', ' ')}"
    elif section == "evidence":
        what = f"evidence item {key}" + (
            " added" if before is None else " superseded or removed" if after is None else ""
        )
    else:
        what = f"clause citation {key}" + (
            " added" if before is None else " withdrawn" if after is None else ""
        )
    return {"what": what, "before": before, "after": after}


def approval_drift(case: Case) -> list[dict[str, Any]]:
    """What changed in the covered content since the case's latest approval.

    Each change is {"what", "before", "after"}; an empty list when nothing changed or the
    case was never approved. Packet builds call this before a final build.
    """
    approval = latest_approval(case)
    if approval is None or approval.covers is None:
        return []
    now = approval_content(case)
    changes = []
    for section in SECTIONS:
        before, after = approval.covers.get(section, {}), now[section]
        for key in sorted(set(before) | set(after), key=lambda k: (len(k), k)):
            if before.get(key) != after.get(key):
                changes.append(_describe(section, key, before.get(key), after.get(key)))
    return changes


def withdraw_if_changed(case: Case, actor: Actor) -> list[dict[str, Any]]:
    """Send an `approved` case back to legal review when its covered content changed.

    Returns the changes (empty when the approval still covers the case). The return step is
    recorded as made by `actor`: the person whose change withdrew the approval cannot then
    approve it (four-eyes), and counsel sees the changes on the case page.
    """
    if case.state != "approved":
        return []
    db.session.flush()
    changes = approval_drift(case)
    if not changes:
        return []
    from compliance.cases.operations import state_entered_hooks

    before_state = case.state
    case.state = "legal_review"
    summary = "; ".join(change["what"] for change in changes[:10])
    more = f" and {len(changes) - 10} more" if len(changes) > 10 else ""
    step = CaseTransition(
        case=case,
        from_state=before_state,
        to_state="legal_review",
        actor=actor.label,
        actor_name=actor.name or actor.label,
        actor_user_id=actor.user_id,
        reason=f"approved content changed after approval: {summary}{more}",
    )
    db.session.add(step)
    for hook in state_entered_hooks:
        hook([case], actor)
    db.session.flush()
    record(
        "case.approval_withdrawn",
        actor=actor,
        object_type="case",
        object_id=case.id,
        case=case,
        changes={"state": {"before": before_state, "after": "legal_review"}},
        details={"transition_id": step.id, "changed_since_approval": changes[:50]},
    )
    return changes
