"""Facts about a case that workflow guards need from other capabilities.

Evidence, clauses, packets and notices build on cases, so cases cannot ask them directly: each
fact has a provider, a function(case) of the capability that owns it, which `compliance.hooks`
puts in `fact_providers` at start-up. A fact without a provider raises instead of answering
0 or nothing: a guard must never pass because the wiring was forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compliance.cases.models import Case

# The facts the guards ask (each a function below), and who answers each: name -> the owning
# capability's function(case), filled by compliance.hooks.
FACTS = (
    "evidence_count",
    "clause_link_count",
    "sent_packet_types",
    "notice_count",
    "unsettled_notices",
)
fact_providers: dict[str, Callable[[Case], Any]] = {}


def _ask(fact: str, case: Case) -> Any:
    provider = fact_providers.get(fact)
    if provider is None:
        raise RuntimeError(
            f"no provider for the case fact {fact!r}: "
            "compliance.hooks.register_hooks() must run before a workflow guard is checked"
        )
    return provider(case)


def evidence_count(case: Case) -> int:
    """Evidence items attached to the case (findings and uploaded files)."""
    return _ask("evidence_count", case)


def clause_link_count(case: Case) -> int:
    """Terms-of-service clauses cited against the case (withdrawn citations do not count)."""
    return _ask("clause_link_count", case)


def sent_packet_types(case: Case) -> set[str]:
    """Types of final (non-draft) packets built for the case and marked sent."""
    return _ask("sent_packet_types", case)


def notice_count(case: Case) -> int:
    """Notices sent for the case (each packet marked sent is one)."""
    return _ask("notice_count", case)


def unsettled_notices(case: Case) -> list[str]:
    """The case's notices neither resolved nor withdrawn, as "reference (state)"."""
    return _ask("unsettled_notices", case)
