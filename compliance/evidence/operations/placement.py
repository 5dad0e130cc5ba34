"""Placing a batch's new findings in cases: by shared subjects into the oldest open case that
names them, or into a new `reported` case; cases that share a subject are flagged as possible
duplicates of each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from compliance.actor import Actor
from compliance.audit.chain import PendingEvent, diff
from compliance.cases import operations as cases
from compliance.cases.models import OPEN_STATES, Case, CaseSubject, Subject
from compliance.db import chunked, utcnow
from compliance.evidence.models import DuplicateFlag, Finding
from compliance.evidence.schema import FindingV1
from compliance.extensions import db


@dataclass
class Prepared:
    """One valid finding of a batch, in its stored form, before it is placed."""

    index: int
    finding: FindingV1
    record_bytes: bytes
    content_sha256: str
    attachments: list[tuple[str, str, bytes, str]]  # name, media type, bytes, sha256
    subjects: list[tuple[str, str]] = field(default_factory=list)  # (type, normalised value)


@dataclass
class Placement:
    """Where a new finding goes: its case, how it got there, the older cases it may duplicate."""

    prepared: Prepared
    case: Case
    status: str  # created (opened the case) or attached (joined an existing one)
    others: list[Case]  # open cases that share a subject with it, flagged as duplicates

    @property
    def finding(self) -> FindingV1:
        return self.prepared.finding


@dataclass
class BatchPlacement:
    """The placements of a batch (in the order of its new findings) and the rows they add.

    Rows that point at a finding record its position in the placements until the finding ids
    are known.
    """

    placements: list[Placement]
    links: list[tuple[int, int, int]]  # case id, subject id, position
    flags: list[tuple[int, int, list[str], int]]  # case id, duplicate of, shared, position


@dataclass
class _Slot:
    """A finding's place while the batch is placed: cases to open are keys -1, -2, ..."""

    key: int
    status: str
    others: list[int]


@dataclass(frozen=True)
class Stored:
    id: int
    content_sha256: str
    case_ref: str


def existing_findings(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
    # Columns only: a resent batch needs ids, hashes and refs, not ORM objects. Looked up by
    # external_id alone (a plain indexed IN; SQLite plans a row-value IN of thousands of pairs
    # poorly), keeping only the pairs asked for.
    wanted = set(keys)
    found: dict[tuple[str, str], Stored] = {}
    for chunk in chunked(sorted({external_id for _name, external_id in wanted})):
        rows = db.session.execute(
            select(
                Finding.id,
                Finding.detector_name,
                Finding.external_id,
                Finding.content_sha256,
                Case.ref,
            )
            .join(Case, Case.id == Finding.case_id)
            .where(Finding.external_id.in_(chunk))
        )
        found.update(
            {(r[1], r[2]): Stored(r[0], r[3], r[4]) for r in rows if (r[1], r[2]) in wanted}
        )
    return found


def _subject_ids(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of these subjects, creating the missing ones (safe against a concurrent creator)."""
    wanted = sorted(pairs)
    ids: dict[tuple[str, str], int] = {}

    def load(chunk: list[tuple[str, str]]) -> None:
        # By value alone (indexed), keeping the asked-for types: see _existing_findings.
        asked = set(chunk)
        rows = db.session.execute(
            select(Subject.id, Subject.type, Subject.value).where(
                Subject.value.in_(sorted({v for _t, v in chunk}))
            )
        )
        ids.update({(r.type, r.value): r.id for r in rows if (r.type, r.value) in asked})

    for chunk in chunked(wanted):
        load(chunk)
    missing = [p for p in wanted if p not in ids]
    if missing:
        insert_ = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        # One statement with many parameter sets (compiled once, cached), in sorted order so
        # concurrent writers take row locks in the same order.
        statement = insert_(Subject.__table__).on_conflict_do_nothing(
            index_elements=["type", "value"]
        )
        now = utcnow()
        for chunk in chunked(missing):
            db.session.execute(
                statement, [{"type": t, "value": v, "first_seen_at": now} for t, v in chunk]
            )
            load(chunk)
    return ids


def _open_links(subject_ids: list[int], extra_case: Case | None) -> dict[int, set[int]]:
    """subject id -> ids of open cases (and `extra_case`) already linked to it."""
    links: dict[int, set[int]] = {}
    for chunk in chunked(subject_ids):
        query = (
            select(CaseSubject.subject_id, CaseSubject.case_id)
            .join(Case, Case.id == CaseSubject.case_id)
            .where(CaseSubject.subject_id.in_(chunk))
        )
        states = Case.state.in_(OPEN_STATES)
        query = query.where(states | (Case.id == extra_case.id) if extra_case else states)
        for subject_id, case_id in db.session.execute(query):
            links.setdefault(subject_id, set()).add(case_id)
    return links


def _case_title(finding: FindingV1) -> str:
    kind = finding.kind.replace("_", " ")
    accounts = finding.metrics.get("accounts")
    scale = f", {accounts} accounts" if isinstance(accounts, int) and accounts > 1 else ""
    return f"{kind.capitalize()} reported by {finding.detector.name}{scale}"[:300]


def _estimated_queries(finding: FindingV1) -> int | None:
    requests = finding.metrics.get("requests")
    if isinstance(requests, int) and not isinstance(requests, bool) and requests >= 0:
        return requests
    return None


def widen_window(
    case: Case, start: datetime, end: datetime, finding_ids: list[int]
) -> PendingEvent | None:
    """Stretch the case's incident window to cover new findings; the event to audit it."""
    old_start, old_end = case.incident_start, case.incident_end
    new_start = min(filter(None, [old_start, start]))
    new_end = max(filter(None, [old_end, end]))
    if (new_start, new_end) == (old_start, old_end):
        return None
    before = {"incident_start": old_start, "incident_end": old_end}
    case.incident_start, case.incident_end = new_start, new_end
    return PendingEvent(
        "case.incident_window_widened",
        object_type="case",
        object_id=case.id,
        case=case,
        changes=diff(before, {"incident_start": new_start, "incident_end": new_end}),
        details={"finding_ids": finding_ids},
    )


def place(
    new: list[Prepared], actor: Actor, into_case: Case | None, ref_prefix: str
) -> BatchPlacement:
    """Stage 4: the case of every new finding (opening cases as needed), links and flags.

    Correlation runs first (it may open cases); every row of the batch then goes in with one
    multi-row INSERT per table. Cases the batch opens are created together once every finding
    is placed (one flush and one audit append); until then they are known by keys -1, -2, ...
    (in the order they open) beside the ids of existing cases.
    """
    subject_ids = _subject_ids({pair for p in new for pair in p.subjects})
    links = _open_links(sorted(set(subject_ids.values())), into_case)
    case_cache = _linked_cases(links, into_case)
    flagged = _flagged_pairs(case_cache)
    linked_pairs = {(case_id, sid) for sid, case_ids in links.items() for case_id in case_ids}
    opening: list[FindingV1] = []  # the finding that opens each new case
    new_links: list[tuple[int, int, int]] = []  # case key, subject id, position in `new`
    new_flags: list[tuple[int, int, list[str], int]] = []  # case, duplicate of, shared, position

    def age(key: int) -> tuple[Any, ...]:  # the oldest case first; new cases after all others
        return (1, -key) if key < 0 else (0, case_cache[key].created_at, key)

    slots: list[_Slot] = []
    for position, p in enumerate(new):
        sids = [subject_ids[pair] for pair in p.subjects]
        candidates = {cid for sid in sids for cid in links.get(sid, ())}
        if into_case is not None:
            slot = _Slot(into_case.id, "attached", [])
        elif candidates:
            ranked = sorted(candidates, key=age)
            slot = _Slot(ranked[0], "attached", ranked[1:])
        else:
            opening.append(p.finding)
            slot = _Slot(-len(opening), "created", [])
        slots.append(slot)
        for sid in sids:
            if (slot.key, sid) not in linked_pairs:
                new_links.append((slot.key, sid, position))
                linked_pairs.add((slot.key, sid))
                links.setdefault(sid, set()).add(slot.key)
        for other in slot.others:
            if (other, slot.key) in flagged:
                continue
            shared = sorted(
                f"{t}:{v}"
                for (t, v), sid in zip(p.subjects, sids, strict=True)
                if other in links.get(sid, ())
            )
            new_flags.append((other, slot.key, shared, position))
            flagged.add((other, slot.key))
    if opening:
        opened = _open_new_cases(opening, actor, ref_prefix)
        case_cache.update({-number: case for number, case in enumerate(opened, start=1)})
    return BatchPlacement(
        placements=[
            Placement(p, case_cache[slot.key], slot.status, [case_cache[k] for k in slot.others])
            for p, slot in zip(new, slots, strict=True)
        ],
        links=[(case_cache[key].id, sid, position) for key, sid, position in new_links],
        flags=[
            (case_cache[key].id, case_cache[of].id, shared, position)
            for key, of, shared, position in new_flags
        ],
    )


def _linked_cases(links: dict[int, set[int]], into_case: Case | None) -> dict[int, Case]:
    """The cases the batch's subjects already link to (and `into_case`), by id."""
    case_cache: dict[int, Case] = {}
    if into_case is not None:
        case_cache[into_case.id] = into_case
    needed = {cid for ids in links.values() for cid in ids} - set(case_cache)
    if needed:
        for case in db.session.scalars(select(Case).where(Case.id.in_(sorted(needed)))):
            case_cache[case.id] = case
    return case_cache


def _flagged_pairs(case_cache: dict[int, Case]) -> set[tuple[int, int]]:
    """(case, duplicate of) pairs already flagged among these cases (never flagged twice)."""
    if len(case_cache) <= 1:
        return set()
    return {
        (row[0], row[1])
        for row in db.session.execute(
            select(DuplicateFlag.case_id, DuplicateFlag.duplicate_of_id).where(
                DuplicateFlag.case_id.in_(sorted(case_cache))
            )
        )
    }


def _open_new_cases(opening: list[FindingV1], actor: Actor, ref_prefix: str) -> list[Case]:
    """One `reported` case per finding that matched no open case, opened together."""
    return cases.open_cases(
        actor,
        [
            {
                "title": _case_title(f),
                "severity": f.severity,
                "confidence": f.confidence,
                "incident_start": f.observed_from,
                "incident_end": f.observed_to,
                "estimated_queries": _estimated_queries(f),
            }
            for f in opening
        ],
        ref_prefix=ref_prefix,
    )
