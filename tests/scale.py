"""Grow a case to a real size (1,000 findings, 10,000 subjects) for the pages that must scale.

A stand-in until the scale helpers of issue #18's evidence work are merged: the same signature,
a plain implementation through the real ingestion path, in batches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from compliance.auth.actor import Actor
from compliance.cases.models import Case
from compliance.evidence.models import CaseSubject, Finding
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db

KINDS = ("query_fingerprint", "rate_anomaly", "cot_elicitation", "coverage_sweep")
SUBJECT_TYPES = ("account", "api_key", "ip_prefix", "payment_fingerprint", "email_domain")
BATCH = 250


def _subject(type_: str, n: int, tag: str) -> dict[str, str]:
    if type_ == "ip_prefix":
        return {"type": type_, "id": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}/32"}
    if type_ == "email_domain":
        return {"type": type_, "id": f"grow-{tag}-{n}.example"}
    return {"type": type_, "id": f"{type_[:4]}_{tag}_{n:06d}"}


def _finding(tag: str, n: int, subjects: list[dict[str, str]]) -> dict[str, Any]:
    start = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=n)
    return {
        "schema": "distillation-finding/v1",
        "detector": {"name": "scale-grower", "version": "1.0"},
        "external_id": f"grow-{tag}-{n:05d}",
        "kind": KINDS[n % len(KINDS)],
        "observed_from": start.isoformat().replace("+00:00", "Z"),
        "observed_to": (start + timedelta(hours=6)).isoformat().replace("+00:00", "Z"),
        "confidence": 0.8,
        "severity": ("low", "medium", "high")[n % 3],
        "subjects": subjects,
        "metrics": {"requests": 1000 + n},
        "summary": f"Grown finding {n} for a case at real size.",
    }


def grow_case(case_ref: str, findings: int = 1000, subjects: int = 10000) -> None:
    """Add findings and subjects to `case_ref` until it holds `findings` findings and at least
    `subjects` linked subjects (each new finding names its share of the missing subjects)."""
    case = db.session.scalar(select(Case).where(Case.ref == case_ref))
    if case is None:
        raise LookupError(case_ref)
    have_findings = db.session.scalar(
        select(func.count()).select_from(Finding).where(Finding.case_id == case.id)
    )
    have_subjects = db.session.scalar(
        select(func.count()).select_from(CaseSubject).where(CaseSubject.case_id == case.id)
    )
    new = max(findings - have_findings, 0)
    if new == 0:
        return
    missing = max(subjects - have_subjects, 0)
    per = -(-missing // new)  # ceiling
    tag = case_ref.rsplit("-", 1)[-1]
    actor = Actor.cli_operator()
    batch: list[dict[str, Any]] = []
    counter = 0
    for n in range(new):
        names = []
        for _ in range(max(per, 1)):
            names.append(_subject(SUBJECT_TYPES[counter % len(SUBJECT_TYPES)], counter, tag))
            counter += 1
        batch.append(_finding(tag, n, names))
        if len(batch) == BATCH:
            ingest_findings(batch, actor, channel="cli", into_case=case)
            db.session.commit()
            batch = []
    if batch:
        ingest_findings(batch, actor, channel="cli", into_case=case)
        db.session.commit()
