"""A case grown to the size of a real campaign, for page tests, the browser walk and the bench.

`grow_case("DIST-2026-0001")` adds 1,000 findings naming 10,000 distinct subjects to an
existing case through the real ingest operation (`into_case`, as an analyst's upload on the
case page does), in batches, so the rows, evidence items, custody and audit events are exactly
what production writes. Run it inside an application context; it commits.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from compliance.actor import Actor
from compliance.cases.models import Case
from compliance.evidence.models import FINDING_KINDS
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db

BATCH = 100  # findings per ingest call: one transaction each
# Most subjects of a campaign are accounts; the other types come in smaller numbers, mixed in
# (every type appears among the first ten subjects, however small the case). IP prefixes do
# not depend on the run: two cases grown in one database share them, as campaigns do.
TYPE_CYCLE = (
    "account",
    "api_key",
    "account",
    "ip_prefix",
    "account",
    "payment_fingerprint",
    "account",
    "email_domain",
    "account",
    "org",
)
_runs = itertools.count(1)


def _subject(index: int, kind: str, run: str) -> dict[str, str]:
    if kind == "ip_prefix":
        return {"type": kind, "id": f"10.{(index >> 8) & 255}.{index & 255}.0/24"}
    if kind == "email_domain":
        return {"type": kind, "id": f"grown-{run}-{index}.example"}
    return {"type": kind, "id": f"{kind}_{run}_{index:06d}"}


def _types(count: int) -> list[str]:
    return [TYPE_CYCLE[i % len(TYPE_CYCLE)] for i in range(count)]


def grown_findings(findings: int, subjects: int, run: str) -> list[dict[str, Any]]:
    """`findings` valid finding bodies naming `subjects` distinct subjects between them."""
    types = _types(subjects)
    per = max(subjects // max(findings, 1), 1)
    bodies = []
    for number in range(findings):
        first = number * per
        last = subjects if number == findings - 1 else min(first + per, subjects)
        named = [_subject(i, types[i], run) for i in range(first, last)]
        if not named:  # more findings than subjects: repeat one, as detectors do
            named = [_subject(number % subjects, types[number % subjects], run)]
        kind = FINDING_KINDS[number % len(FINDING_KINDS)]
        day = 1 + number % 28
        bodies.append(
            {
                "schema": "distillation-finding/v1",
                "detector": {"name": f"grown-{kind.replace('_', '-')}", "version": "1.0.0"},
                "external_id": f"grown-{run}-{number:06d}",
                "kind": kind,
                "observed_from": f"2026-10-{day:02d}T00:00:00Z",
                "observed_to": f"2026-10-{day:02d}T23:59:59Z",
                "confidence": 0.5 + (number % 50) / 100,
                "severity": ("low", "medium", "high", "critical")[number % 4],
                "subjects": named,
                "metrics": {"requests": 1000 + number, "accounts": len(named)},
                "summary": f"Grown finding {number} of {findings}: {len(named)} subjects.",
            }
        )
    return bodies


def grow_case(case_ref: str, findings: int = 1000, subjects: int = 10000) -> None:
    """Add `findings` findings and `subjects` new subjects to the case `case_ref` and commit."""
    case = db.session.scalar(db.select(Case).where(Case.ref == case_ref))
    if case is None:
        raise LookupError(f"no case {case_ref}")
    run = f"{os.getpid()}x{next(_runs)}"
    actor = Actor.cli_operator()
    bodies = grown_findings(findings, subjects, run)
    for start in range(0, len(bodies), BATCH):
        case = db.session.get(Case, case.id)
        ingest_findings(bodies[start : start + BATCH], actor, channel="cli", into_case=case)
        db.session.commit()
