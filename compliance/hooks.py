"""Cross-domain reactions, connected in one place at start-up.

An operation in one domain lets others react through a named hook list of its own (a case
enters a state: `cases.operations.state_entered_hooks`; cases merge:
`cases.retention.merge_hooks`; findings are stored:
`evidence.operations.ingest.findings_stored_hooks`). A lower domain that needs facts from a
higher one names them and lets them be provided (what counsel's approval covers:
`cases.approval.section_providers`; what the workflow's guards ask:
`cases.readiness.fact_providers`; a packet's composition is addressed from the notices'
recipients directory: `packets.operations.composition_addressers`). A provider that was never
connected is an error, not an empty answer. What reacts or provides is wired here, not by
importing some module for its side effects, so an operation behaves the same from the web, the
CLI, the scheduler or a test. `create_app` calls `register_hooks()`; the CLI and the scheduler
process build their app with `create_app`, and a script that uses operations without an app
calls it itself. Calling it again changes nothing.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from compliance.cases import approval, readiness, retention, search
from compliance.cases import operations as cases
from compliance.evidence.operations import covered_evidence, evidence_count, ingest
from compliance.evidence.operations.duplicates import drop_shared_subject_links
from compliance.notices.operations import (
    address_composition,
    notice_count,
    unsettled_notice_labels,
)
from compliance.notices.watch import watch_new_findings
from compliance.packets import operations as packets
from compliance.policies.operations import active_citation_count, covered_clauses
from compliance.reviews.operations import close_reviews_of_merged_case, schedule_case_reviews

# Each hook list and, in order, what it calls.
STATE_ENTERED = [schedule_case_reviews]  # a case entered a state: its reviews follow
FINDINGS_STORED = [watch_new_findings]  # material a notice had taken down, seen again
ADDRESSERS = [address_composition]  # a composition's recipient, from the directory
MERGED = [
    drop_shared_subject_links,  # before the generic move: links the target already has
    search.refresh_after_merge,  # search documents of both cases are rebuilt at commit
    close_reviews_of_merged_case,  # the merged-away case needs no more reviews
]

# Each provider table: name -> the function(case) that answers it.
APPROVAL_SECTIONS = {"evidence": covered_evidence, "clauses": covered_clauses}  # approval covers
READINESS_FACTS = {  # what the workflow's guards ask about a case
    "evidence_count": evidence_count,
    "clause_link_count": active_citation_count,
    "sent_packet_types": packets.sent_packet_types,
    "notice_count": notice_count,
    "unsettled_notices": unsettled_notice_labels,
}


def _connect(hooks: list, reactions: list) -> None:
    for reaction in reactions:
        if reaction not in hooks:
            hooks.append(reaction)


def register_hooks() -> None:
    """Connect every cross-domain reaction and provider (idempotent)."""
    _connect(cases.state_entered_hooks, STATE_ENTERED)
    _connect(retention.merge_hooks, MERGED)
    _connect(ingest.findings_stored_hooks, FINDINGS_STORED)
    _connect(packets.composition_addressers, ADDRESSERS)
    approval.section_providers.update(APPROVAL_SECTIONS)
    readiness.fact_providers.update(READINESS_FACTS)
    for name, listener in search.SESSION_LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
