"""Business rules for the clause library: sync, version in force, citations, diffs, reviews.

Operations flush and write their audit event in the caller's transaction; they never commit.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.audit.chain import diff, record
from compliance.auth.permissions import require_permission
from compliance.cases.approval import withdraw_if_changed
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, WorkflowRefused
from compliance.evidence.models import EvidenceItem
from compliance.extensions import db
from compliance.policies.models import (
    ClauseCitation,
    PolicyClause,
    PolicyDocument,
    PolicyVersion,
)
from compliance.policies.parsing import (
    CLAUSE_NUMBER_RE,
    ParsedVersion,
    Period,
    effective_date_problems,
    load_policy_folder,
)

# `api-terms@2026-03#4.2`: document id, version, clause number.
CLAUSE_REFERENCE_RE = re.compile(rf"^([^@#\s]+)@([^@#\s]+)#({CLAUSE_NUMBER_RE})$")
REVIEW_INTERVAL = timedelta(days=365)
MAX_NOTE_LENGTH = 10_000


# ---------------------------------------------------------------- lookups
def list_documents() -> list[PolicyDocument]:
    return list(
        db.session.scalars(
            select(PolicyDocument)
            .options(selectinload(PolicyDocument.versions))
            .order_by(PolicyDocument.title)
        )
    )


def get_document(key: str) -> PolicyDocument:
    document = db.session.scalar(select(PolicyDocument).where(PolicyDocument.key == key))
    if document is None:
        raise NotFound(f"no policy document {key!r}")
    return document


def get_version(key: str, version: str) -> PolicyVersion:
    found = db.session.scalar(
        select(PolicyVersion)
        .join(PolicyDocument)
        .where(PolicyDocument.key == key, PolicyVersion.version == version)
    )
    if found is None:
        if db.session.scalar(select(PolicyDocument.id).limit(1)) is None:
            # A fresh instance: the library is filled from policies/ by a sync, not by hand.
            raise NotFound(
                "no policy documents are stored yet: run `compliance policies sync` first"
            )
        raise NotFound(f"no version {version!r} of policy document {key!r}")
    return found


def find_clause(reference: str) -> PolicyClause:
    """The clause named `document@version#number`, e.g. `api-terms@2026-03#4.2`."""
    match = CLAUSE_REFERENCE_RE.match((reference or "").strip())
    if not match:
        raise InvalidInput(
            f"{reference!r} is not a clause reference",
            details={"clause": "write document@version#number, e.g. api-terms@2026-03#4.2"},
        )
    key, version_label, number = match.groups()
    version = get_version(key, version_label)
    clause = version.clause(number)
    if clause is None:
        raise NotFound(f"{version.label} has no clause {number}")
    return clause


# ---------------------------------------------------------------- sync
def policies_dir(config: Mapping[str, Any]) -> Path:
    """The folder synced by default: COMPLIANCE_POLICIES_DIR, else policies/ in the project."""
    return Path(config.get("POLICIES_DIR") or PROJECT_ROOT / "policies")


@dataclass
class SyncReport:
    """What a sync did: versions published, those already stored, and date warnings."""

    published: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    documents_created: list[str] = field(default_factory=list)
    documents_updated: list[str] = field(default_factory=list)
    not_in_folder: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.published or self.documents_created or self.documents_updated)

    def summary(self) -> str:
        return (
            f"{len(self.published)} version(s) published, {len(self.unchanged)} already stored, "
            f"{len(self.warnings)} warning(s)"
        )


def _refuse_changed_versions(parsed: list[ParsedVersion]) -> dict[tuple[str, str], PolicyVersion]:
    """Stored versions by (document, version); a file that differs from one is refused."""
    stored = {
        (key, v.version): v
        for v, key in db.session.execute(
            select(PolicyVersion, PolicyDocument.key).join(PolicyDocument)
        ).all()
    }
    problems = {}
    for item in parsed:
        existing = stored.get(item.key)
        if existing is not None and existing.sha256 != item.sha256:
            problems[item.path] = (
                f"{item.document} version {item.version} was published on "
                f"{existing.published_at:%Y-%m-%d} with SHA-256 {existing.sha256[:12]}…, "
                f"but the file now has {item.sha256[:12]}…; a published version never "
                "changes: restore the file and add a new version instead"
            )
    if problems:
        raise InvalidInput(
            "policy sync refused, nothing stored: a published version was changed",
            details=problems,
        )
    return stored


def _periods(document: PolicyDocument) -> list[Period]:
    return [
        Period(f"v{v.version}", v.effective_from, v.declared_effective_to)
        for v in document.versions
    ]


def _first_review(latest: ParsedVersion) -> date:
    return latest.next_review or latest.effective_from + REVIEW_INTERVAL


def sync_policies(actor: Actor, folder: Path) -> SyncReport:
    """Load the policies folder: new versions are stored immutably; nothing else changes.

    All or nothing: any bad file, duplicate version or changed published version refuses
    the whole sync before anything is written.
    """
    require_permission(actor, "policy.sync")
    parsed = load_policy_folder(folder)
    stored = _refuse_changed_versions(parsed)
    report = SyncReport()
    documents = {d.key: d for d in db.session.scalars(select(PolicyDocument))}

    by_document: dict[str, list[ParsedVersion]] = {}
    for item in parsed:
        by_document.setdefault(item.document, []).append(item)

    for key, items in sorted(by_document.items()):
        items.sort(key=lambda v: (v.effective_from, v.version))
        latest = items[-1]
        document = documents.get(key)
        if document is None:
            document = PolicyDocument(
                key=key,
                title=latest.title,
                short_title=latest.short_title,
                owner=latest.owner,
                next_review_on=_first_review(latest),
            )
            db.session.add(document)
            db.session.flush()
            documents[key] = document
            report.documents_created.append(key)
            record(
                "policy.document_created",
                actor=actor,
                object_type="policy_document",
                object_id=document.id,
                changes=diff({}, _document_snapshot(document)),
            )

        new_items = [item for item in items if item.key not in stored]
        report.unchanged.extend(f"{key}@{item.version}" for item in items if item.key in stored)
        for item in new_items:
            version = _publish(actor, document, item)
            report.published.append(f"{key}@{version.version}")

        newest_stored = max(document.versions, key=lambda v: v.effective_from)
        if new_items and newest_stored.version == latest.version:
            # A newer version carries the current title and owner; its effective date
            # starts the next annual review unless the file names a date.
            before = _document_snapshot(document)
            document.title, document.short_title = latest.title, latest.short_title
            document.owner = latest.owner
            document.next_review_on = max(document.next_review_on, _first_review(latest))
            changes = diff(before, _document_snapshot(document))
            if changes and key not in report.documents_created:
                db.session.flush()
                report.documents_updated.append(key)
                record(
                    "policy.document_updated",
                    actor=actor,
                    object_type="policy_document",
                    object_id=document.id,
                    changes=changes,
                    details={"from_version": latest.version},
                )

    for document in documents.values():
        report.warnings.extend(f"{document.key}: {problem}" for problem in date_warnings(document))
        in_folder = {item.version for item in by_document.get(document.key, [])}
        report.not_in_folder.extend(
            f"{document.key}@{v.version}" for v in document.versions if v.version not in in_folder
        )
    if report.changed:
        record(
            "policy.synced",
            actor=actor,
            object_type="policy_library",
            details={
                "folder": str(folder),
                "published": report.published,
                "unchanged": len(report.unchanged),
                "warnings": report.warnings,
            },
        )
    return report


def _document_snapshot(document: PolicyDocument) -> dict[str, Any]:
    return {
        "key": document.key,
        "title": document.title,
        "short_title": document.short_title,
        "owner": document.owner,
        "next_review_on": document.next_review_on,
    }


def _publish(actor: Actor, document: PolicyDocument, item: ParsedVersion) -> PolicyVersion:
    version = PolicyVersion(
        document=document,
        version=item.version,
        title=item.title,
        effective_from=item.effective_from,
        declared_effective_to=item.effective_to,
        source_path=item.path,
        full_text=item.full_text,
        sha256=item.sha256,
        published_by=actor.label,
    )
    db.session.add(version)
    for clause in item.clauses:
        db.session.add(
            PolicyClause(
                version=version,
                number=clause.number,
                heading=clause.heading,
                text=clause.text,
                position=clause.position,
            )
        )
    db.session.flush()
    record(
        "policy.version_published",
        actor=actor,
        object_type="policy_version",
        object_id=version.id,
        details={
            "document": document.key,
            "version": version.version,
            "effective_from": version.effective_from,
            "effective_to": version.declared_effective_to,
            "sha256": version.sha256,
            "source_path": version.source_path,
            "clauses": len(item.clauses),
        },
    )
    return version


def date_warnings(document: PolicyDocument) -> list[str]:
    """Overlaps and gaps between the stored versions of one document."""
    return effective_date_problems(_periods(document))


def schedule_review(actor: Actor, document: PolicyDocument, next_review_on: date) -> None:
    """Move a document's next annual review (the reviews capability calls this)."""
    require_permission(actor, "policy.review")
    before = _document_snapshot(document)
    document.next_review_on = next_review_on
    changes = diff(before, _document_snapshot(document))
    if changes:
        db.session.flush()
        record(
            "policy.review_scheduled",
            actor=actor,
            object_type="policy_document",
            object_id=document.id,
            changes=changes,
        )


# ---------------------------------------------------------------- version in force
@dataclass(frozen=True)
class Window:
    """The days of the conduct, as the version-in-force rules compare them (UTC dates)."""

    start: date
    end: date
    from_case: bool  # False: the case has no incident window, so "today" stands in

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def incident_window(case: Case, today: date | None = None) -> Window:
    """The incident window as dates; an open-ended window runs to today."""
    today = today or utcnow().date()

    def day(value: datetime | None) -> date | None:
        return value.astimezone(UTC).date() if value is not None else None

    start, end = day(case.incident_start), day(case.incident_end)
    if start is None and end is None:
        return Window(today, today, from_case=False)
    start = start or end
    end = end or max(start, today)
    return Window(start, end, from_case=True)


def versions_in_force(document: PolicyDocument, window: Window) -> list[PolicyVersion]:
    """The versions in force on at least one day of the window, oldest first.

    Without an incident window the current version is offered; if none is in force today
    (all are future or withdrawn), the newest is.
    """
    found = [v for v in document.versions if v.covers(window.start, window.end)]
    if not found and not window.from_case and document.versions:
        found = [document.versions[-1]]
    return found


def is_in_force(clause: PolicyClause, window: Window) -> bool:
    return clause.version in versions_in_force(clause.version.document, window)


# ---------------------------------------------------------------- diffs
_TOKEN_RE = re.compile(r"\s+|[^\s]+")
SMALL_WORD = 4  # equal runs this short between two changes are shown as part of the change


@dataclass(frozen=True)
class Segment:
    """A run of words in a diff: `equal`, `delete` (old only) or `insert` (new only)."""

    op: str
    text: str


def inline_diff(old: str, new: str) -> list[Segment]:
    """A word-level diff of two texts, for the two-colour inline view."""
    a, b = _TOKEN_RE.findall(old or ""), _TOKEN_RE.findall(new or "")
    segments: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    opcodes = matcher.get_opcodes()
    removed: list[str] = []
    added: list[str] = []

    def flush_change() -> None:
        if removed:
            segments.append(Segment("delete", "".join(removed)))
        if added:
            segments.append(Segment("insert", "".join(added)))
        removed.clear()
        added.clear()

    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = "".join(a[i1:i2])
            between_changes = 0 < index < len(opcodes) - 1
            if between_changes and len(same.strip()) <= SMALL_WORD:
                # A space or a small word ("or", "to") kept between two changes would split
                # one rewrite into many fragments; readers follow whole phrases better.
                removed.append(same)
                added.append(same)
                continue
            flush_change()
            segments.append(Segment("equal", same))
            continue
        removed.extend(a[i1:i2])
        added.extend(b[j1:j2])
    flush_change()
    return segments


@dataclass(frozen=True)
class ClauseChange:
    """How one clause number differs between two versions."""

    number: str
    status: str  # added, removed, changed, unchanged
    old: PolicyClause | None
    new: PolicyClause | None
    heading_segments: tuple[Segment, ...]
    text_segments: tuple[Segment, ...]


def _number_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def clause_change(number: str, old: PolicyClause | None, new: PolicyClause | None) -> ClauseChange:
    old_heading, new_heading = (old.heading if old else ""), (new.heading if new else "")
    old_text, new_text = (old.text if old else ""), (new.text if new else "")
    if old is None:
        status = "added"
    elif new is None:
        status = "removed"
    elif (old_heading, old_text) == (new_heading, new_text):
        status = "unchanged"
    else:
        status = "changed"
    return ClauseChange(
        number=number,
        status=status,
        old=old,
        new=new,
        heading_segments=tuple(inline_diff(old_heading, new_heading)),
        text_segments=tuple(inline_diff(old_text, new_text)),
    )


def version_diff(old: PolicyVersion, new: PolicyVersion) -> list[ClauseChange]:
    """Every clause number of either version, in clause order, with what changed."""
    numbers = {c.number for c in old.clauses} | {c.number for c in new.clauses}
    numbers = sorted(numbers, key=_number_key)
    return [clause_change(n, old.clause(n), new.clause(n)) for n in numbers]


def unified_text_diff(old: PolicyVersion, new: PolicyVersion) -> str:
    """The whole files as a unified diff (for people who prefer the raw view)."""
    return "".join(
        difflib.unified_diff(
            old.full_text.splitlines(keepends=True),
            new.full_text.splitlines(keepends=True),
            fromfile=f"{old.document.key}@{old.version}",
            tofile=f"{new.document.key}@{new.version}",
        )
    )


# ---------------------------------------------------------------- the case's clauses
@dataclass(frozen=True)
class DocumentInForce:
    """One document as the case's clauses tab shows it: its versions in force and changes."""

    document: PolicyDocument
    versions: list[PolicyVersion]
    changes: list[tuple[PolicyVersion, PolicyVersion, list[ClauseChange]]]

    @property
    def spans_change(self) -> bool:
        return len(self.versions) > 1


def clauses_in_force(case: Case, today: date | None = None) -> tuple[Window, list[DocumentInForce]]:
    """For each document, the versions in force during the case's window and their diffs."""
    window = incident_window(case, today)
    result = []
    for document in list_documents():
        versions = versions_in_force(document, window)
        changes = [
            (old, new, [c for c in version_diff(old, new) if c.status != "unchanged"])
            for old, new in zip(versions, versions[1:], strict=False)
        ]
        result.append(DocumentInForce(document, versions, changes))
    return window, result


def citations_for_case(case: Case, include_removed: bool = False) -> list[ClauseCitation]:
    query = select(ClauseCitation).where(ClauseCitation.case_id == case.id)
    if not include_removed:
        query = query.where(ClauseCitation.removed_at.is_(None))
    return list(db.session.scalars(query.order_by(ClauseCitation.cited_at, ClauseCitation.id)))


def covered_clauses(case: Case) -> dict[str, str]:
    """The clauses an approval of `case` covers: each citation, as a packet states it, by id.

    The "clauses" section of `cases.approval.approval_content`; withdrawn citations are out.
    """
    return {str(citation.id): citation.citation() for citation in citations_for_case(case)}


def active_citation_count(case: Case) -> int:
    return db.session.scalar(
        select(func.count(ClauseCitation.id)).where(
            ClauseCitation.case_id == case.id, ClauseCitation.removed_at.is_(None)
        )
    )


def cases_citing(clause: PolicyClause) -> list[tuple[Case, ClauseCitation]]:
    """Cases with an active citation of this clause version, newest citation first."""
    rows = db.session.execute(
        select(Case, ClauseCitation)
        .join(ClauseCitation, ClauseCitation.case_id == Case.id)
        .where(ClauseCitation.clause_id == clause.id, ClauseCitation.removed_at.is_(None))
        .order_by(ClauseCitation.cited_at.desc())
    ).all()
    return [(row[0], row[1]) for row in rows]


def evidence_choices(case: Case) -> list[tuple[int, str]]:
    """The case's evidence items, as (id, label), for citing a clause against one of them."""
    items = db.session.scalars(
        select(EvidenceItem).where(EvidenceItem.case_id == case.id).order_by(EvidenceItem.id)
    )
    return [(item.id, f"#{item.id} {item.name} (sha256 {item.sha256[:12]}…)") for item in items]


def _check_evidence_item(case: Case, item_id: int) -> None:
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.case_id != case.id:
        raise InvalidInput(
            f"evidence item {item_id} is not part of {case.ref}",
            details={"evidence_item_id": "choose an evidence item of this case"},
        )


def cite_clause(
    case: Case,
    actor: Actor,
    clause: PolicyClause,
    note: str,
    *,
    evidence_item_id: int | None = None,
    override_reason: str | None = None,
) -> ClauseCitation:
    """Link a clause version to the case, saying how the conduct breaks it.

    The version must have been in force during the incident window; citing another version
    needs an explicit override reason, which is stored and audited.
    """
    require_permission(actor, "clause.link")
    if not case.is_open:
        raise WorkflowRefused(f"{case.ref} is {case.state}: reopen it before citing clauses")
    note = (note or "").strip()
    errors = {}
    if not note:
        errors["note"] = "say how the conduct breaks this clause"
    elif len(note) > MAX_NOTE_LENGTH:
        errors["note"] = f"at most {MAX_NOTE_LENGTH} characters"
    if errors:
        raise InvalidInput("the citation is not complete", details=errors)
    if evidence_item_id is not None:
        _check_evidence_item(case, evidence_item_id)
    duplicate = db.session.scalar(
        select(ClauseCitation.id).where(
            ClauseCitation.case_id == case.id,
            ClauseCitation.clause_id == clause.id,
            ClauseCitation.removed_at.is_(None),
            ClauseCitation.evidence_item_id.is_(None)
            if evidence_item_id is None
            else ClauseCitation.evidence_item_id == evidence_item_id,
        )
    )
    if duplicate is not None:
        raise Conflict(f"{clause.citation()} is already cited against {case.ref}")

    window = incident_window(case)
    in_force = is_in_force(clause, window)
    override_reason = (override_reason or "").strip() or None
    if not in_force and not override_reason:
        in_force_labels = ", ".join(
            v.label for v in versions_in_force(clause.version.document, window)
        )
        raise InvalidInput(
            f"{clause.citation()} was not in force during the incident window ({window}); "
            f"in force: {in_force_labels or 'no version'}. Cite the version in force, or "
            "override with a reason",
            details={"override_reason": "a reason is required to cite a version not in force"},
        )
    citation = ClauseCitation(
        case_id=case.id,
        clause=clause,
        evidence_item_id=evidence_item_id,
        note=note,
        in_force=in_force,
        override_reason=None if in_force else override_reason,
        cited_by=actor.label,
        cited_by_name=actor.name,
        cited_by_user_id=actor.user_id,
    )
    db.session.add(citation)
    db.session.flush()
    record(
        "clause.cited",
        actor=actor,
        object_type="clause_citation",
        object_id=citation.id,
        case=case,
        details={
            "citation": clause.citation(),
            "reference": clause.reference,
            "clause_id": clause.id,
            "version_sha256": clause.version.sha256,
            "evidence_item_id": evidence_item_id,
            "note": note,
            "window": str(window) if window.from_case else None,
            "in_force": in_force,
            "override_reason": citation.override_reason,
        },
    )
    withdraw_if_changed(case, actor)
    return citation


def get_citation(case: Case, citation_id: int) -> ClauseCitation:
    citation = db.session.get(ClauseCitation, citation_id)
    if citation is None or citation.case_id != case.id:
        raise NotFound(f"no clause citation {citation_id} on {case.ref}")
    return citation


def withdraw_citation(case: Case, actor: Actor, citation: ClauseCitation, reason: str) -> None:
    """Withdraw a citation; it stays on record with who withdrew it and why."""
    require_permission(actor, "clause.link")
    if citation.case_id != case.id:
        raise NotFound(f"no clause citation {citation.id} on {case.ref}")
    if not case.is_open:
        raise WorkflowRefused(f"{case.ref} is {case.state}: reopen it before changing citations")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the citation is withdrawn", details={"reason": "required"})
    if citation.removed_at is not None:
        raise Conflict(f"{citation.citation()} was already withdrawn from {case.ref}")
    citation.removed_at = utcnow()
    citation.removed_by = actor.label
    citation.removal_reason = reason
    db.session.flush()
    record(
        "clause.uncited",
        actor=actor,
        object_type="clause_citation",
        object_id=citation.id,
        case=case,
        details={"citation": citation.citation(), "reason": reason},
    )
    withdraw_if_changed(case, actor)
