"""Races on PostgreSQL: several connections ingesting, transitioning and numbering at once.

(Concurrent audit appends: tests/audit/test_concurrency.py; concurrent Bates reservations:
tests/packets/test_queue_web_signing.py.)
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from compliance.actor import Actor
from compliance.audit.chain import verify_chain
from compliance.cases.models import Case, CaseSubject, Subject
from compliance.errors import Conflict, OperationError
from compliance.evidence.models import Finding
from compliance.extensions import db
from tests.security.helpers import make_finding

WORKERS, GROUPS = 4, 5
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _run_all(app: Flask, work: list[Any]) -> list[Any]:
    """Run each callable in its own thread and app context (own session, own connection)."""
    db.session.commit()
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        with app.app_context():
            try:
                results[index] = work[index](barrier)
            except BaseException as error:  # noqa: BLE001 - reported to the test below
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()
    db.session.expire_all()
    return results


def test_overlapping_concurrent_ingests_make_no_duplicates(app: Flask, operator: Actor) -> None:
    from compliance.evidence.operations import ingest_findings

    shared = [
        make_finding(
            external_id=f"race-shared-{k}",
            subjects=[{"type": "account", "id": f"acct_race_{k}"}],
        )
        for k in range(GROUPS)
    ]

    def worker(number: int) -> Any:
        own = [
            make_finding(
                external_id=f"race-w{number}-{k}",
                subjects=[
                    {"type": "account", "id": f"acct_race_{k}"},
                    {"type": "ip_prefix", "id": f"198.51.{k}.0/24"},
                ],
            )
            for k in range(GROUPS)
        ]
        batch = [*own, *shared] if number % 2 else [*shared, *own]

        def work(barrier: threading.Barrier) -> Any:
            barrier.wait()
            for _attempt in range(20):
                try:
                    outcomes = ingest_findings(batch, operator, channel="api")
                    db.session.commit()
                    return outcomes
                except (IntegrityError, Conflict):  # raced: the API says "send it again"
                    db.session.rollback()
            raise AssertionError(f"worker {number} never got its batch in (20 tries)")

        return work

    results = _run_all(app, [worker(n) for n in range(WORKERS)])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors

    keys = db.session.execute(select(Finding.detector_name, Finding.external_id)).all()
    assert len(keys) == GROUPS + WORKERS * GROUPS == len(set(keys))  # each finding once
    subjects = db.session.execute(select(Subject.type, Subject.value)).all()
    assert len(subjects) == len(set(subjects)) == 2 * GROUPS  # each subject once
    # One case per group of findings sharing a subject: concurrent first sightings of a
    # subject must not open two cases for it.
    per_subject = Counter(db.session.scalars(select(CaseSubject.subject_id)))
    assert set(per_subject.values()) == {1}, per_subject
    assert db.session.scalar(select(func.count()).select_from(Case)) == GROUPS
    statuses = Counter(o.status for outcome in results for o in outcome)
    assert statuses["created"] == GROUPS
    assert statuses["duplicate"] >= (WORKERS - 1) * GROUPS  # shared findings after the first
    report = verify_chain()
    assert report.ok, report


def test_concurrent_transitions_of_one_case_one_wins_the_other_conflicts(
    app: Flask, make_case: Any, operator: Actor
) -> None:
    from compliance.cases.operations import get_case, transition_case
    from compliance.cases.workflow import TransitionRequest

    case = make_case()
    ref = case.ref

    def move(target: str, reason: str | None) -> Any:
        def work(barrier: threading.Barrier) -> Any:
            mine = get_case(ref)
            version = mine.version
            barrier.wait()  # both have read the case in `reported`, version 1
            step = transition_case(mine, target, operator, TransitionRequest(reason), version)
            db.session.commit()
            return step.to_state

        return work

    results = _run_all(
        app, [move("triage", None), move("dismissed", "duplicate report of another case")]
    )
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    # The loser is told clearly: a stale version (409 in the web layer) or a refused move.
    assert isinstance(losers[0], StaleDataError | OperationError), repr(losers[0])
    if isinstance(losers[0], OperationError):
        assert losers[0].status == 409
    stored = get_case(ref)
    assert stored.state == winners[0]
    assert [t.to_state for t in stored.transitions] == [winners[0]]
    assert verify_chain().ok


def test_a_stale_transition_in_the_browser_is_refused_with_a_reason(
    app: Flask, make_case: Any, login_as: Any
) -> None:
    """What the loser of the race sees in the browser: its move refused, and why."""
    _user, client = login_as("counsel")
    case = make_case()
    from compliance.cases.operations import get_case, transition_case

    transition_case(get_case(case.ref), "triage", Actor.cli_operator())
    db.session.commit()
    response = client.post(
        f"/cases/{case.ref}/transition",
        data={"target": "dismissed", "reason": "spam", "version": "1"},
        follow_redirects=True,
    )
    assert "changed by someone else" in response.get_data(as_text=True)
    db.session.expire_all()
    stored = get_case(case.ref)
    assert stored.state == "triage" and len(stored.transitions) == 1
