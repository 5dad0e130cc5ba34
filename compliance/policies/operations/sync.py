"""Syncing the policies folder (policies/*.md) into stored documents, versions and clauses,
and moving a document's next annual review.

A published version never changes: a sync stores new versions and refuses changed ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.audit.chain import diff, record
from compliance.auth.permissions import require_permission
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.policies.models import PolicyClause, PolicyDocument, PolicyVersion
from compliance.policies.parsing import (
    ParsedVersion,
    Period,
    effective_date_problems,
    load_policy_folder,
)

REVIEW_INTERVAL = timedelta(days=365)


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
    by_document = _by_document(parsed)
    for key, items in sorted(by_document.items()):
        _sync_document(actor, key, items, documents, stored, report)
    _report_library(documents.values(), by_document, report)
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


def _by_document(parsed: list[ParsedVersion]) -> dict[str, list[ParsedVersion]]:
    """The folder's versions per document, by effective date: the last is the latest."""
    by_document: dict[str, list[ParsedVersion]] = {}
    for item in parsed:
        by_document.setdefault(item.document, []).append(item)
    for items in by_document.values():
        items.sort(key=lambda v: (v.effective_from, v.version))
    return by_document


def _sync_document(
    actor: Actor,
    key: str,
    items: list[ParsedVersion],
    documents: dict[str, PolicyDocument],
    stored: dict[tuple[str, str], PolicyVersion],
    report: SyncReport,
) -> None:
    """One document: created if new, its new versions published, its latest one followed."""
    latest = items[-1]
    document = documents.get(key)
    if document is None:
        document = documents[key] = _create_document(actor, key, latest)
        report.documents_created.append(key)

    new_items = [item for item in items if item.key not in stored]
    report.unchanged.extend(f"{key}@{item.version}" for item in items if item.key in stored)
    for item in new_items:
        version = _publish(actor, document, item)
        report.published.append(f"{key}@{version.version}")

    newest_stored = max(document.versions, key=lambda v: v.effective_from)
    if new_items and newest_stored.version == latest.version:
        _follow_latest(actor, document, latest, report)


def _create_document(actor: Actor, key: str, latest: ParsedVersion) -> PolicyDocument:
    """A document seen for the first time, titled after its latest version in the folder."""
    document = PolicyDocument(
        key=key,
        title=latest.title,
        short_title=latest.short_title,
        owner=latest.owner,
        next_review_on=_first_review(latest),
    )
    db.session.add(document)
    db.session.flush()
    record(
        "policy.document_created",
        actor=actor,
        object_type="policy_document",
        object_id=document.id,
        changes=diff({}, _document_snapshot(document)),
    )
    return document


def _follow_latest(
    actor: Actor, document: PolicyDocument, latest: ParsedVersion, report: SyncReport
) -> None:
    """A newer version carries the current title and owner; its effective date starts the
    next annual review unless the file names a date."""
    before = _document_snapshot(document)
    document.title, document.short_title = latest.title, latest.short_title
    document.owner = latest.owner
    document.next_review_on = max(document.next_review_on, _first_review(latest))
    changes = diff(before, _document_snapshot(document))
    if changes and document.key not in report.documents_created:
        db.session.flush()
        report.documents_updated.append(document.key)
        record(
            "policy.document_updated",
            actor=actor,
            object_type="policy_document",
            object_id=document.id,
            changes=changes,
            details={"from_version": latest.version},
        )


def _report_library(
    documents: Iterable[PolicyDocument],
    by_document: dict[str, list[ParsedVersion]],
    report: SyncReport,
) -> None:
    """Every document's date warnings, and its stored versions the folder no longer has."""
    for document in documents:
        report.warnings.extend(f"{document.key}: {problem}" for problem in date_warnings(document))
        in_folder = {item.version for item in by_document.get(document.key, [])}
        report.not_in_folder.extend(
            f"{document.key}@{v.version}" for v in document.versions if v.version not in in_folder
        )


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
