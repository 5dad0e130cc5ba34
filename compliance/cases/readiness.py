"""Facts about a case that workflow guards need from other capabilities.

Each function asks the capability that owns the facts; imports are local because those
capabilities build on cases (the dependency would otherwise run both ways at import time).
"""

from __future__ import annotations

from compliance.cases.models import Case


def evidence_count(case: Case) -> int:
    """Evidence items attached to the case (findings and uploaded files)."""
    from compliance.evidence.operations import evidence_count as count

    return count(case)


def clause_link_count(case: Case) -> int:
    """Terms-of-service clauses cited against the case (withdrawn citations do not count)."""
    from compliance.policies.operations import active_citation_count

    return active_citation_count(case)


def sent_packet_types(case: Case) -> set[str]:
    """Types of final (non-draft) packets built for the case and marked sent."""
    from compliance.packets.operations import sent_packet_types as sent

    return sent(case)


def notice_count(case: Case) -> int:
    """Notices sent for the case (each packet marked sent is one)."""
    from compliance.notices.operations import notices_for_case

    return len(notices_for_case(case))


def unsettled_notices(case: Case) -> list[str]:
    """The case's notices neither resolved nor withdrawn, as "reference (state)"."""
    from compliance.notices.operations import unsettled_notices as unsettled

    return [f"{n.our_reference} ({n.state_label.lower()})" for n in unsettled(case)]
