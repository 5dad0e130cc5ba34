"""Helpers shared by the review tests: a fixed clock and a case with an owner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from compliance.actor import Actor

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Any:
    """Time stands still at T0 until the test moves it (`clock.move_to(...)`).

    Days pass in these tests while test users stay signed in: sessions are kept from idling
    out or expiring (tests/security/test_sign_in.py tests those limits).
    """
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config.update(
            SESSION_IDLE_MINUTES=10**7,
            SESSION_LIFETIME_HOURS=10**6,
            PERMANENT_SESSION_LIFETIME=timedelta(days=10**4),  # the signed cookie's age
        )
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def owned_case(
    make_case: Callable[..., Any], make_user: Callable[..., Any]
) -> Callable[..., tuple[Any, Any]]:
    """Factory: a case owned by a new analyst, moved to `state` through the workflow."""
    from compliance.cases import operations
    from compliance.cases.workflow import TransitionRequest
    from compliance.extensions import db

    def factory(state: str = "triage", **fields: Any) -> tuple[Any, Any]:
        owner = make_user("analyst")
        case = make_case(owner_id=owner.id, **fields)
        path = {"reported": [], "triage": ["triage"], "investigating": ["triage", "investigating"]}
        for target in path[state]:
            operations.transition_case(case, target, Actor.for_user(owner), TransitionRequest())
        db.session.commit()
        return case, owner

    return factory
