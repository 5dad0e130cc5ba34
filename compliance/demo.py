"""Demo data: users for every role and realistic cases, loaded through the real operations.

Idempotent: each step checks what is already there, so a second run adds nothing twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from compliance.auth.actor import Actor
from compliance.auth.models import User
from compliance.auth.operations import create_user, find_user
from compliance.cases import operations as cases
from compliance.cases.models import Case
from compliance.cases.workflow import TransitionRequest
from compliance.evidence.demo import load_samples
from compliance.extensions import db
from compliance.intel.demo import load_intel_samples
from compliance.packets.demo import build_demo_packets
from compliance.policies.demo import sync_policies
from compliance.reviews.demo import load_review_demo

Echo = Callable[[str], None]

DEMO_USERS = [
    ("alex.rivera@lab.example", "analyst", "Alex Rivera"),
    ("sam.okafor@lab.example", "analyst", "Sam Okafor"),
    ("casey.lindqvist@lab.example", "counsel", "Casey Lindqvist"),
    ("jordan.mehta@lab.example", "counsel", "Jordan Mehta"),
    ("ari.novak@lab.example", "auditor", "Ari Novak"),
    ("morgan.admin@lab.example", "admin", "Morgan Ellis"),
]


def load_users(echo: Echo) -> None:
    """Create the demo users; new passwords are printed once and kept in the instance folder."""
    operator = Actor.cli_operator()
    created = []
    for email, role, name in DEMO_USERS:
        if find_user(email):
            continue
        password = secrets.token_urlsafe(12)
        create_user(operator, email, role, password, name)
        created.append((email, role, password))
    db.session.commit()
    if not created:
        echo("demo users already present (passwords were printed when they were created)")
        return
    credentials = Path(current_app.instance_path) / "demo-credentials.txt"
    credentials.parent.mkdir(parents=True, exist_ok=True)
    with credentials.open("a") as handle:
        for email, role, password in created:
            handle.write(f"{email}\t{role}\t{password}\n")
    credentials.chmod(0o600)
    echo(f"demo users (passwords shown once; also saved to {credentials}):")
    for email, role, password in created:
        echo(f"  {role:8} {email:32} {password}")


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _actor(email: str) -> Actor:
    return Actor.for_user(_user(email))


def _case_titled(title: str) -> Case | None:
    return db.session.scalar(select(Case).where(Case.title == title))


MANUAL_CASES = [
    {
        "title": "Tip from partner lab: reseller offering 'frontier-quality' reasoning traces",
        "summary": (
            "A partner lab reports a marketplace listing selling **2M reasoning traces** "
            "said to come from our API. No detector signal yet; investigate the seller's "
            "accounts and payment fingerprints."
        ),
        "severity": "medium",
        "suspected_actor": "Unknown data reseller",
        "jurisdiction": "Unknown",
        "targeted_domains": ["reasoning", "mathematics"],
        "owner": "sam.okafor@lab.example",
        "steps": [("triage", None)],
    },
    {
        "title": "University research group exceeding evaluation quota",
        "summary": "Heavy but transparent benchmark use by an academic account; no evidence of "
        "model training on outputs.",
        "severity": "low",
        "suspected_actor": "Academic research group",
        "jurisdiction": "EU",
        "targeted_domains": ["science"],
        "owner": "alex.rivera@lab.example",
        "steps": [
            ("triage", None),
            (
                "dismissed",
                "Research use covered by the academic "
                "agreement; no competing model. Quota raised instead.",
            ),
        ],
    },
]


def load_manual_cases(echo: Echo) -> None:
    """Cases opened by hand (tips, referrals from partners), not by a detector."""
    analyst = _actor("alex.rivera@lab.example")
    counsel = _actor("casey.lindqvist@lab.example")
    prefix = current_app.config["CASE_REF_PREFIX"]
    for spec in MANUAL_CASES:
        if _case_titled(spec["title"]):
            continue
        fields = {k: v for k, v in spec.items() if k not in ("owner", "steps")}
        case = cases.create_case(
            analyst,
            ref_prefix=prefix,
            owner_id=_user(spec["owner"]).id,
            incident_start=datetime(2026, 9, 1, tzinfo=UTC),
            incident_end=datetime(2026, 10, 15, tzinfo=UTC),
            **fields,
        )
        for target, reason in spec["steps"]:
            actor = counsel if target == "dismissed" else analyst
            cases.transition_case(case, target, actor, TransitionRequest(reason=reason))
        db.session.commit()
        echo(f"  case {case.ref}: {case.title} ({case.state})")


def _case_of_finding(external_id: str) -> Case | None:
    from compliance.evidence.models import Finding

    return db.session.scalar(
        select(Case)
        .join(Finding, Finding.case_id == Case.id)
        .where(Finding.external_id == external_id)
    )


# How far each detector-made demo case has come: (finding, owner, citations, steps).
# A step is (target state, the user who takes it, reason).
CAMPAIGN_PROGRESS = [
    (
        "qf-20261018-0042",  # the Lattice sweep: hundreds of accounts, coding and maths
        "alex.rivera@lab.example",
        [
            ("api-terms@2026-03#4.3", "Outputs harvested at scale to train a competing model."),
            ("api-terms@2026-03#2.4", "212 accounts rotated to stay under per-account limits."),
        ],
        [
            ("triage", "alex.rivera@lab.example", None),
            ("investigating", "alex.rivera@lab.example", None),
            ("legal_review", "alex.rivera@lab.example", "Evidence and clauses ready for counsel."),
            ("approved", "casey.lindqvist@lab.example", None),
        ],
    ),
    (
        "cw-20261112-nimbus-7b",  # a canary watermark seen in a competitor's public model
        "sam.okafor@lab.example",
        [("api-terms@2026-03#4.3", "Canary outputs reappear in the Nimbus-7B public model.")],
        [
            ("triage", "sam.okafor@lab.example", None),
            ("investigating", "sam.okafor@lab.example", None),
            ("legal_review", "sam.okafor@lab.example", "Canary hit confirmed twice; ready."),
        ],
    ),
    (
        "ra-20261103-e17",  # account rotation to evade rate limits
        "sam.okafor@lab.example",
        [("api-terms@2026-03#3.2", "Keys rotated every few minutes to evade rate limits.")],
        [
            ("triage", "sam.okafor@lab.example", None),
            ("investigating", "sam.okafor@lab.example", None),
        ],
    ),
]

DEMO_SUMMARY = (
    "Detectors linked the accounts through shared templates, payment fingerprints and IP "
    "ranges. The campaign swept coding and mathematics with chain-of-thought prompts, the "
    "pattern of a distillation data harvest. See the Evidence tab for the findings and the "
    "Clauses tab for the terms broken."
)


def advance_demo_cases(echo: Echo) -> None:
    """Move the detector-made demo cases along the workflow, as a team would have."""
    from compliance.policies.operations import cite_clause, find_clause

    for external_id, owner, citations, steps in CAMPAIGN_PROGRESS:
        case = _case_of_finding(external_id)
        if case is None or case.state != "reported":
            continue  # not ingested, or already advanced by an earlier run
        owner_actor = _actor(owner)
        cases.update_case(
            case, owner_actor, {"owner_id": owner_actor.user_id, "summary": DEMO_SUMMARY}
        )
        for target, who, reason in steps:
            if target == "legal_review":
                for reference, note in citations:
                    cite_clause(case, owner_actor, find_clause(reference), note)
            request = TransitionRequest(
                reason=reason, actions=("takedown", "referral") if target == "approved" else ()
            )
            cases.transition_case(case, target, _actor(who), request)
        db.session.commit()
        echo(f"  case {case.ref}: moved to {case.state}")


# Each capability adds its demo step here, in dependency order.
DEMO_STEPS: list[Callable[[Echo], None]] = [
    load_users,
    sync_policies,
    load_samples,
    load_intel_samples,
    load_manual_cases,
    advance_demo_cases,
    load_review_demo,
    build_demo_packets,
]


def load_demo(echo: Echo = print) -> None:
    for step in DEMO_STEPS:
        step(echo)
    echo("demo data loaded")
