"""Business rules for the clause library, one module per job; every name other modules use
is here.

- `lookups`: finding documents, versions and clauses by key and reference
- `sync`: the policies folder into stored versions and clauses; the next annual review
- `in_force`: the incident window, the versions in force during it, the case's clauses tab
- `diffs`: what changed between two versions, per clause and as a raw diff
- `citations`: citing clauses against cases, withdrawing citations, the cases citing one

Operations flush and write their audit event in the caller's transaction; they never commit.
Import from `compliance.policies.operations` (the names below), not from the modules: the
split is an internal arrangement.
"""

from compliance.policies.operations.citations import (
    MAX_NOTE_LENGTH,
    active_citation_count,
    cases_citing,
    citations_for_case,
    cite_clause,
    covered_clauses,
    evidence_choices,
    get_citation,
    withdraw_citation,
)
from compliance.policies.operations.diffs import (
    SMALL_WORD,
    ClauseChange,
    Segment,
    clause_change,
    inline_diff,
    unified_text_diff,
    version_diff,
)
from compliance.policies.operations.in_force import (
    DocumentInForce,
    Window,
    clauses_in_force,
    incident_window,
    is_in_force,
    versions_in_force,
)
from compliance.policies.operations.lookups import (
    CLAUSE_REFERENCE_RE,
    find_clause,
    get_document,
    get_version,
    list_documents,
)
from compliance.policies.operations.sync import (
    REVIEW_INTERVAL,
    SyncReport,
    date_warnings,
    policies_dir,
    schedule_review,
    sync_policies,
)

__all__ = [
    "CLAUSE_REFERENCE_RE",
    "MAX_NOTE_LENGTH",
    "REVIEW_INTERVAL",
    "SMALL_WORD",
    "ClauseChange",
    "DocumentInForce",
    "Segment",
    "SyncReport",
    "Window",
    "active_citation_count",
    "cases_citing",
    "citations_for_case",
    "covered_clauses",
    "cite_clause",
    "clause_change",
    "clauses_in_force",
    "date_warnings",
    "evidence_choices",
    "find_clause",
    "get_citation",
    "get_document",
    "get_version",
    "incident_window",
    "inline_diff",
    "is_in_force",
    "list_documents",
    "policies_dir",
    "schedule_review",
    "sync_policies",
    "unified_text_diff",
    "version_diff",
    "versions_in_force",
    "withdraw_citation",
]
