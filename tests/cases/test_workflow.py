"""The workflow table, proven role by role and guard by guard through the operations."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.cases import operations, readiness
from compliance.cases.models import STATES, Case, CaseTransition
from compliance.cases.workflow import TRANSITIONS, TransitionRequest, options_for
from compliance.errors import PermissionDenied, WorkflowRefused
from compliance.extensions import db

ROLES = ("analyst", "counsel", "auditor", "admin")
PAIRS = [(source, t) for t in TRANSITIONS for source in t.sources]
# Everything a guard could ask for, supplied: only role and state rules remain.
COMPLETE = TransitionRequest(
    reason="documented reason", actions=("takedown",), outcome="model removed"
)


@pytest.fixture
def ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend evidence, a clause and a sent takedown packet exist (their capabilities' job)."""
    monkeypatch.setattr(readiness, "evidence_count", lambda case: 1)
    monkeypatch.setattr(readiness, "clause_link_count", lambda case: 1)
    monkeypatch.setattr(readiness, "sent_packet_types", lambda case: {"takedown", "referral"})
    monkeypatch.setattr(readiness, "notice_count", lambda case: 1)
    monkeypatch.setattr(readiness, "unsettled_notices", lambda case: [])


def case_in_state(make_case, make_user, state: str) -> Case:
    owner = make_user("analyst")
    case = make_case(summary="212 accounts, templated prompts", owner_id=owner.id)
    # Arrange only: put the case straight into the state under test.
    db.session.execute(
        update(Case)
        .where(Case.id == case.id)
        .values(state=state, chosen_actions=["takedown"], version=Case.version + 1)
    )
    db.session.commit()
    db.session.refresh(case)
    return case


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize(
    ("source", "transition"), PAIRS, ids=[f"{s}->{t.target}" for s, t in PAIRS]
)
def test_each_transition_allowed_exactly_for_its_roles(
    app, make_case, make_user, ready, source, transition
):
    for role in ROLES:
        case = case_in_state(make_case, make_user, source)
        actor = Actor.for_user(make_user(role))
        before = audit_count()
        if role in transition.roles:
            step = operations.transition_case(case, transition.target, actor, COMPLETE)
            db.session.commit()
            assert (step.from_state, step.to_state, step.actor) == (
                source,
                transition.target,
                actor.label,
            )
            event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))
            assert event.action == "case.transition"
            assert event.changes["state"] == {"before": source, "after": transition.target}
            assert event.case_ref == case.ref and event.actor == actor.label
        else:
            with pytest.raises(PermissionDenied, match=f"from {source} to {transition.target}"):
                operations.transition_case(case, transition.target, actor, COMPLETE)
            db.session.rollback()
            db.session.refresh(case)
            assert case.state == source
            assert audit_count() == before


@pytest.mark.parametrize("source", STATES)
def test_moves_not_in_the_table_are_refused_for_everyone(app, make_case, make_user, ready, source):
    allowed_targets = {t.target for t in TRANSITIONS if source in t.sources}
    case = case_in_state(make_case, make_user, source)
    counsel = Actor.cli_operator()  # full rights: only the state rule can refuse
    for target in set(STATES) - allowed_targets:
        with pytest.raises(WorkflowRefused, match=f"cannot move from {source} to {target}"):
            operations.transition_case(case, target, counsel, COMPLETE)
    assert db.session.scalar(select(func.count()).select_from(CaseTransition)) == 0


@pytest.mark.parametrize(
    ("source", "target", "request_", "message"),
    [
        ("reported", "dismissed", TransitionRequest(), "needs a reason"),
        ("legal_review", "investigating", TransitionRequest(reason="  "), "needs a reason"),
        ("closed", "investigating", TransitionRequest(), "needs a reason"),
        ("legal_review", "approved", TransitionRequest(), "choose at least one action"),
        ("legal_review", "approved", TransitionRequest(actions=("sue",)), "unknown action"),
        ("monitoring", "closed", TransitionRequest(), "needs an outcome"),
    ],
)
def test_guards_on_what_the_person_supplies(
    app, make_case, make_user, ready, source, target, request_, message
):
    case = case_in_state(make_case, make_user, source)
    counsel = Actor.for_user(make_user("counsel"))
    with pytest.raises(WorkflowRefused, match=message):
        operations.transition_case(case, target, counsel, request_)


def test_investigation_needs_an_owner(app, make_case, make_user):
    analyst = Actor.for_user(make_user("analyst"))
    case = make_case()
    operations.transition_case(case, "triage", analyst)
    with pytest.raises(WorkflowRefused, match="needs an owner"):
        operations.transition_case(case, "investigating", analyst)
    operations.update_case(case, analyst, {"owner_id": analyst.user_id})
    operations.transition_case(case, "investigating", analyst)
    assert case.state == "investigating"


def test_legal_review_lists_every_missing_prerequisite(app, make_case, make_user):
    analyst = Actor.for_user(make_user("analyst"))
    case = case_in_state(make_case, make_user, "investigating")
    operations.update_case(case, analyst, {"summary": ""})
    with pytest.raises(WorkflowRefused) as refused:
        operations.transition_case(case, "legal_review", analyst)
    message = str(refused.value)
    for missing in ("needs at least one evidence item", "needs a linked clause", "summary"):
        assert missing in message


@pytest.mark.parametrize("fact", sorted(readiness.FACTS))
def test_a_fact_nobody_provides_raises_rather_than_answer_nothing(
    app, make_case, monkeypatch, fact
):
    """Wiring forgotten must not read as "no evidence" or, worse, "no notice unsettled"."""
    case = make_case()
    getattr(readiness, fact)(case)  # wired at start-up (compliance.hooks)
    monkeypatch.delitem(readiness.fact_providers, fact)
    with pytest.raises(RuntimeError, match=f"no provider for the case fact '{fact}'"):
        getattr(readiness, fact)(case)


def test_four_eyes_the_counsel_who_asked_cannot_approve(app, make_case, make_user, ready):
    first, second = (Actor.for_user(make_user("counsel")) for _ in range(2))
    case = case_in_state(make_case, make_user, "investigating")
    operations.transition_case(case, "legal_review", first)
    db.session.commit()
    request = TransitionRequest(actions=("takedown", "referral"))
    with pytest.raises(WorkflowRefused, match="four-eyes rule"):
        operations.transition_case(case, "approved", first, request)
    db.session.rollback()
    operations.transition_case(case, "approved", second, request)
    db.session.commit()
    assert case.state == "approved" and case.chosen_actions == ["referral", "takedown"]


def test_action_taken_needs_a_sent_packet_of_an_approved_type(app, make_case, make_user):
    counsel = Actor.for_user(make_user("counsel"))
    case = case_in_state(make_case, make_user, "approved")
    with pytest.raises(WorkflowRefused, match="needs a takedown packet built and marked sent"):
        operations.transition_case(case, "action_taken", counsel)


def test_refused_transition_writes_nothing(app, make_case, make_user):
    analyst = Actor.for_user(make_user("analyst"))
    case = make_case()
    before = audit_count()
    with pytest.raises(WorkflowRefused):
        operations.transition_case(case, "approved", analyst)
    db.session.rollback()
    assert audit_count() == before
    assert db.session.get(Case, case.id).state == "reported"


def test_options_show_only_what_this_role_may_do_and_why_others_are_blocked(
    app, make_case, make_user
):
    case = case_in_state(make_case, make_user, "investigating")
    analyst = Actor.for_user(make_user("analyst"))
    counsel = Actor.for_user(make_user("counsel"))
    analyst_targets = {o.transition.target for o in options_for(case, analyst)}
    counsel_targets = {o.transition.target for o in options_for(case, counsel)}
    assert analyst_targets == {"legal_review"}
    assert counsel_targets == {"legal_review", "dismissed"}
    (review,) = [o for o in options_for(case, analyst) if o.transition.target == "legal_review"]
    assert not review.allowed
    assert "needs a linked clause" in review.blockers
    auditor = Actor.for_user(make_user("auditor"))
    assert options_for(case, auditor) == []


def test_stale_version_is_a_conflict_not_an_overwrite(app, make_case, make_user):
    from compliance.errors import Conflict

    analyst = Actor.for_user(make_user("analyst"))
    case = make_case()
    seen_version = case.version
    operations.update_case(case, analyst, {"title": "First edit"}, expected_version=seen_version)
    db.session.commit()
    with pytest.raises(Conflict, match="changed by someone else"):
        operations.update_case(case, analyst, {"title": "Second"}, expected_version=seen_version)
    db.session.rollback()
    assert db.session.get(Case, case.id).title == "First edit"


def test_case_refs_are_sequential_per_year(app, make_case):
    refs = [make_case().ref for _ in range(3)]
    year = refs[0].split("-")[1]
    assert refs == [f"DIST-{year}-{n:04d}" for n in (1, 2, 3)]


def test_the_approve_form_shows_who_asked_for_the_approval_and_why(
    app, make_case, make_user, ready, login_as
):
    asker = make_user("counsel", name="Casey Asker")
    case = case_in_state(make_case, make_user, "investigating")
    request = TransitionRequest(reason="Evidence complete; takedown to the reseller's host.")
    operations.transition_case(case, "legal_review", Actor.for_user(asker), request)
    db.session.commit()
    _, approver = login_as("counsel")
    page = approver.get(f"/cases/{case.ref}").get_data(as_text=True)
    form = page[page.index('name="target" value="approved"') :]
    form = form[: form.index("</form>")]
    assert "Sent to legal review by <strong>Casey Asker</strong>" in form
    assert "Evidence complete; takedown to the reseller&#39;s host." in form
