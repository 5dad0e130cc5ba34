"""The case workflow: states, who may move a case where, and the guards on each move.

This table is the single definition of the workflow; the UI, the API and the CLI all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from compliance.actor import Actor
from compliance.cases import readiness
from compliance.cases.models import ACTIONS, OPEN_STATES, Case

ANALYST_OR_COUNSEL = frozenset({"analyst", "counsel"})
COUNSEL = frozenset({"counsel"})


@dataclass(frozen=True)
class TransitionRequest:
    """What the person asking for a transition supplied with it."""

    reason: str | None = None
    actions: tuple[str, ...] = ()
    outcome: str | None = None


Guard = Callable[[Case, Actor, TransitionRequest], str | None]


def has_owner(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    return None if case.owner_id else "needs an owner: assign the case first"


def reason_given(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    return None if (request.reason or "").strip() else "needs a reason"


def has_evidence(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    return None if readiness.evidence_count(case) else "needs at least one evidence item"


def has_clause(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    return None if readiness.clause_link_count(case) else "needs a linked clause"


def has_summary(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    return None if (case.summary or "").strip() else "needs a written summary"


def four_eyes(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    """The approver is not the person who asked for the approval."""
    sender = case.review_request
    if sender is not None and sender.actor == actor.label:
        return (
            f"four-eyes rule: {sender.actor_name} sent this case to legal review, "
            "so another counsel must approve it"
        )
    return None


def actions_chosen(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    chosen = set(request.actions)
    if not chosen:
        return "choose at least one action: " + ", ".join(ACTIONS)
    unknown = chosen - set(ACTIONS)
    if unknown:
        return "unknown action(s): " + ", ".join(sorted(unknown))
    return None


def packet_sent(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    approved = set(case.chosen_actions or [])
    if approved & readiness.sent_packet_types(case):
        return None
    wanted = " or ".join(sorted(approved)) or "takedown or referral"
    return f"needs a {wanted} packet built and marked sent"


def notice_sent(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    """Action is taken when a notice went out: a sent packet is recorded as a notice."""
    if readiness.notice_count(case):
        return None
    return "needs at least one notice sent: mark the packet sent to its recipient"


def notices_settled(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    """A case closes when every notice is resolved, or withdrawn with a reason."""
    open_notices = readiness.unsettled_notices(case)
    if not open_notices:
        return None
    listed = ", ".join(open_notices[:5])
    return f"every notice must be resolved or withdrawn first: {listed}"


def approval_current(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    """Action is taken on what counsel approved: nothing covered has changed since."""
    from compliance.cases.approval import approval_drift

    changes = approval_drift(case)
    if not changes:
        return None
    listed = "; ".join(change["what"] for change in changes[:5])
    return f"the case changed since it was approved ({listed}): counsel must approve it again"


def outcome_given(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    return None if (request.outcome or "").strip() else "needs an outcome"


def not_merged(case: Case, actor: Actor, request: TransitionRequest) -> str | None:
    """A case merged into another stays closed: its records and work live in the target."""
    from sqlalchemy import select

    from compliance.cases.models import CaseMerge
    from compliance.extensions import db

    target = db.session.scalar(
        select(CaseMerge.target_ref).where(CaseMerge.source_id == case.id).limit(1)
    )
    return f"was merged into {target}: work on {target} instead" if target else None


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    label: str
    guards: tuple[Guard, ...] = field(default=())

    @property
    def needs_reason(self) -> bool:
        return reason_given in self.guards

    @property
    def needs_actions(self) -> bool:
        return actions_chosen in self.guards

    @property
    def needs_outcome(self) -> bool:
        return outcome_given in self.guards


TRANSITIONS: tuple[Transition, ...] = (
    Transition(("reported",), "triage", ANALYST_OR_COUNSEL, "Start triage"),
    Transition(
        ("triage",), "investigating", ANALYST_OR_COUNSEL, "Start investigation", (has_owner,)
    ),
    Transition(
        ("reported", "triage", "investigating"), "dismissed", COUNSEL, "Dismiss", (reason_given,)
    ),
    Transition(
        ("investigating",),
        "legal_review",
        ANALYST_OR_COUNSEL,
        "Send to legal review",
        (has_evidence, has_clause, has_summary),
    ),
    Transition(
        ("legal_review",), "investigating", COUNSEL, "Return to investigation", (reason_given,)
    ),
    Transition(("legal_review",), "approved", COUNSEL, "Approve", (four_eyes, actions_chosen)),
    Transition(
        ("approved",),
        "action_taken",
        COUNSEL,
        "Record action taken",
        (approval_current, packet_sent, notice_sent),
    ),
    Transition(("action_taken",), "monitoring", ANALYST_OR_COUNSEL, "Start monitoring"),
    Transition(
        ("action_taken", "monitoring"), "closed", COUNSEL, "Close", (outcome_given, notices_settled)
    ),
    Transition(
        ("closed", "dismissed"), "investigating", COUNSEL, "Reopen", (reason_given, not_merged)
    ),
)


@dataclass(frozen=True)
class MergeMove:
    """Merging is a move of its own: the source is folded into an open target, then closed.

    The source may be merged only before legal review (the states a case may be dismissed
    from): from legal review on, approvals, packets and actions were decided on its own
    evidence, and moving that evidence under another case would detach them from it.
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    roles: frozenset[str]
    label: str = "Merge into another case"

    def blockers(self, source: Case, target: Case) -> list[str]:
        """Why `source` may not be merged into `target` now (empty when it may)."""
        problems = []
        if source.state not in self.sources:
            problems.append(
                f"{source.ref} is {source.state}: only a case in "
                f"{', '.join(self.sources)} can be merged into another"
            )
        if target.state not in self.targets:
            problems.append(f"{target.ref} is {target.state}: reopen it before merging into it")
        return problems


MERGE = MergeMove(("reported", "triage", "investigating"), OPEN_STATES, COUNSEL)


def find_transition(source: str, target: str) -> Transition | None:
    return next((t for t in TRANSITIONS if source in t.sources and t.target == target), None)


def transitions_from(source: str) -> list[Transition]:
    return [t for t in TRANSITIONS if source in t.sources]


@dataclass(frozen=True)
class Option:
    """A transition as offered to one person now: allowed, or blocked and why."""

    transition: Transition
    blockers: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.blockers


# Guards about what the person types in the form are checked on submit, not when offering.
_INPUT_GUARDS = (reason_given, actions_chosen, outcome_given)


def options_for(case: Case, actor: Actor) -> list[Option]:
    """The moves this actor's role may make from the case's state, with what blocks each."""
    options = []
    for transition in transitions_from(case.state):
        if not actor.has_role(*transition.roles):
            continue
        blockers = tuple(
            message
            for guard in transition.guards
            if guard not in _INPUT_GUARDS
            and (message := guard(case, actor, TransitionRequest())) is not None
        )
        options.append(Option(transition, blockers))
    return options
