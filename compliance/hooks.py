"""Cross-domain reactions, connected in one place at start-up.

An operation in one domain lets others react through a named hook list of its own (a case
enters a state: `cases.operations.state_entered_hooks`; cases merge:
`cases.retention.merge_hooks`; findings are stored:
`evidence.operations.ingest.findings_stored_hooks`). Where a lower domain needs an answer only
a higher one has, it asks a provider list filled the same way (a packet's composition is
addressed from the notices' recipients directory: `packets.operations.composition_addressers`;
with none connected, packets refuse to compose). What reacts or answers is wired here, not by
importing some module for its side effects, so an operation behaves the same from the web, the
CLI, the scheduler or a test. `create_app` calls `register_hooks()`; the CLI and the scheduler
process build their app with `create_app`, and a script that uses operations without an app
calls it itself. Calling it again changes nothing.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from compliance.cases import operations as cases
from compliance.cases import retention, search
from compliance.evidence.operations import ingest
from compliance.evidence.operations.duplicates import drop_shared_subject_links
from compliance.notices.operations import address_composition
from compliance.notices.watch import watch_new_findings
from compliance.packets import operations as packets
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


def _connect(hooks: list, reactions: list) -> None:
    for reaction in reactions:
        if reaction not in hooks:
            hooks.append(reaction)


def register_hooks() -> None:
    """Connect every cross-domain reaction (idempotent)."""
    _connect(cases.state_entered_hooks, STATE_ENTERED)
    _connect(retention.merge_hooks, MERGED)
    _connect(ingest.findings_stored_hooks, FINDINGS_STORED)
    _connect(packets.composition_addressers, ADDRESSERS)
    for name, listener in search.SESSION_LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
