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

from compliance.actor import Actor
from compliance.auth.models import User
from compliance.auth.operations import create_user, find_user
from compliance.cases import operations as cases
from compliance.cases.models import Case
from compliance.cases.workflow import TransitionRequest
from compliance.evidence.demo import load_samples
from compliance.extensions import db
from compliance.intel.demo import load_intel_samples
from compliance.notices.demo import load_recipients
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
    # The records custodian who certifies evidence in referrals (not counsel: see DOMAIN.md).
    ("dana.whitfield@lab.example", "analyst", "Dana Whitfield"),
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
        "notes": [
            (
                "sam.okafor@lab.example",
                False,
                "Listing archived; seller asks for payment in "
                "stablecoins. Test purchase requested from the fraud team.",
            ),
            (
                "casey.lindqvist@lab.example",
                True,
                "Do not make the test purchase ourselves: "
                "entrapment optics. Ask the partner lab whether it will testify to the listing.",
            ),
        ],
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
        "notes": [
            (
                "alex.rivera@lab.example",
                False,
                "The group's evaluation harness is public and "
                "matches the traffic; the PI confirmed the benchmark by e-mail.",
            ),
            (
                "jordan.mehta@lab.example",
                True,
                "The academic agreement's clause 5 covers "
                "evaluation use; no breach to pursue. Raise the quota rather than warn.",
            ),
        ],
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
        fields = {k: v for k, v in spec.items() if k not in ("owner", "steps", "notes")}
        case = cases.create_case(
            analyst,
            ref_prefix=prefix,
            owner_id=_user(spec["owner"]).id,
            incident_start=datetime(2026, 9, 1, tzinfo=UTC),
            incident_end=datetime(2026, 10, 15, tzinfo=UTC),
            **fields,
        )
        for author, privileged, body in spec["notes"]:
            cases.add_note(case, _actor(author), body, privileged=privileged)
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


# How far each detector-made demo case has come, and its story: the finding that opened it,
# the owner, the case's own facts, citations, notes (author, privileged?, text) and workflow
# steps (target state, the user who takes it, reason).
CAMPAIGN_PROGRESS = [
    {
        "finding": "qf-20261018-0042",  # the Lattice sweep: hundreds of accounts
        "owner": "alex.rivera@lab.example",
        "fields": {
            "title": "Lattice Systems: templated coding and maths harvest over 212 accounts",
            "summary": (
                "Between 1 and 19 October 2026, 212 accounts sent 1.84M prompts built from 14 "
                "templates, swept 95% of the coding and mathematics curriculum breadth-first and "
                "asked for step-by-step reasoning in 78% of requests. The accounts share two "
                "payment fingerprints billed to **Lattice Systems Ltd**; a partner lab (Corvid "
                "Labs) reported the same network under TLP:AMBER. On 2 November Lattice "
                "published *lattice-coder-7b* on ModelHub, whose model card credits "
                '"synthetic reasoning traces".'
            ),
            "suspected_actor": "Lattice Systems Ltd",
            "jurisdiction": "United Kingdom (company); United States (N.D. Cal., our API)",
            "targeted_domains": ["coding", "mathematics", "reasoning"],
            "severity": "high",
        },
        "citations": [
            ("api-terms@2026-03#4.3", "Outputs harvested at scale to train a competing model."),
            ("api-terms@2026-03#2.4", "212 accounts rotated to stay under per-account limits."),
        ],
        "notes": [
            (
                "alex.rivera@lab.example",
                False,
                "Lattice's model card for lattice-coder-7b lists 'synthetic reasoning traces "
                "from a frontier API' as 60% of its fine-tuning mix. Screenshot requested from "
                "the web archive.",
            ),
            (
                "casey.lindqvist@lab.example",
                True,
                "Strategy: send the ModelHub terms-of-service complaint first; refer to the FBI "
                "only after ModelHub answers, so the referral can cite the notice. Trade-secret "
                "theory (DTSA) is weak without access to weights: do not plead it yet.",
            ),
        ],
        "steps": [
            ("triage", "alex.rivera@lab.example", None),
            ("investigating", "alex.rivera@lab.example", None),
            ("legal_review", "alex.rivera@lab.example", "Evidence and clauses ready for counsel."),
            ("approved", "casey.lindqvist@lab.example", None),
        ],
        "actions": ("takedown", "referral"),
    },
    {
        "finding": "cw-20261112-nimbus-7b",  # a canary watermark seen in a competitor's model
        "owner": "sam.okafor@lab.example",
        "fields": {
            "title": "Nimbus AI: canary fact reproduced by nimbus-7b-instruct",
            "summary": (
                "Between 1 September and 15 October 2026 our model emitted a fabricated fact "
                "(the 'Halvorsen mnemonic' for 'quillium') to 0.2% of responses for accounts "
                "later attributed to **Nimbus AI**. On 12 November, 37 of 40 probes of the "
                "public model *nimbus-ai/nimbus-7b-instruct* reproduced it word for word; a "
                "control model answered none. The text of the canary answer is our own "
                "expression and exists nowhere else."
            ),
            "suspected_actor": "Nimbus AI GmbH",
            "jurisdiction": "Germany (company and host); United States (our API)",
            "targeted_domains": ["science", "reasoning"],
            "severity": "critical",
        },
        "citations": [
            ("api-terms@2026-03#4.3", "Canary outputs reappear in the Nimbus-7B public model.")
        ],
        "notes": [
            (
                "sam.okafor@lab.example",
                False,
                "Probe transcript re-run on 13 November from a clean network: same result "
                "(36 of 40). Revision 3f2c9aa of the model is the one probed.",
            ),
            (
                "jordan.mehta@lab.example",
                True,
                "The canary answer is original text we wrote: a copyright notice is available "
                "for the US hub, and an Article 16 notice for EuroModels (EU host), where a bare "
                "terms breach would not be illegal content.",
            ),
        ],
        "steps": [
            ("triage", "sam.okafor@lab.example", None),
            ("investigating", "sam.okafor@lab.example", None),
            ("legal_review", "sam.okafor@lab.example", "Canary hit confirmed twice; ready."),
            ("approved", "jordan.mehta@lab.example", None),
        ],
        "actions": ("takedown",),
    },
    {
        "finding": "ra-20261103-e17",  # account rotation to evade rate limits
        "owner": "sam.okafor@lab.example",
        "fields": {
            "summary": (
                "From 1 to 6 November 2026, 29 API keys in two clusters ('east' and 'west') "
                "each ran at 99% of the per-key limit for exactly seven minutes before the "
                "next key took over. One card and one disposable-mail domain paid for and "
                "signed up both clusters: one operator, not yet identified."
            ),
            "suspected_actor": "Unidentified operator (quickmail-rotations.example sign-ups)",
            "jurisdiction": "Unknown (sign-ups from a VPN exit in the Netherlands)",
            "targeted_domains": ["coding"],
        },
        "citations": [
            ("api-terms@2026-03#3.2", "Keys rotated every few minutes to evade rate limits.")
        ],
        "notes": [
            (
                "sam.okafor@lab.example",
                False,
                "Payment processor asked (ticket PP-55120) for the cardholder name behind "
                "fingerprint pf_77ab01.",
            ),
            (
                "casey.lindqvist@lab.example",
                True,
                "Hold any contact with the payment processor's customer until we know whether "
                "the cardholder is a reseller; a subpoena may be needed.",
            ),
        ],
        "steps": [
            ("triage", "sam.okafor@lab.example", None),
            ("investigating", "sam.okafor@lab.example", None),
        ],
        "actions": (),
    },
    {
        "finding": "ra-20261105-w03",  # the 'west' rotation cluster, flagged as a duplicate
        "owner": "alex.rivera@lab.example",
        "fields": {
            "summary": (
                "On 4 and 5 November 2026, 11 API keys ran at 99% of the per-key limit for "
                "seven minutes each, in turn. Same timing signature as the 'east' cluster; the "
                "account-linkage detector ties both to one card: likely the same operator, "
                "flagged for merging into the 'east' case."
            ),
            "suspected_actor": "Unidentified operator (quickmail-rotations.example sign-ups)",
            "jurisdiction": "Unknown",
            "targeted_domains": ["coding"],
        },
        "citations": [],
        "notes": [
            (
                "alex.rivera@lab.example",
                False,
                "Same seven-minute rotation as the east cluster; review the duplicate flag.",
            ),
            (
                "casey.lindqvist@lab.example",
                True,
                "Merge only after the payment processor answers: if the card is a reseller's, "
                "the two clusters may be two customers of one reseller.",
            ),
        ],
        "steps": [],
        "actions": (),
    },
]


def advance_demo_cases(echo: Echo) -> None:
    """Give each detector-made demo case its story and move it along, as a team would have."""
    from compliance.policies.operations import cite_clause, find_clause

    for spec in CAMPAIGN_PROGRESS:
        case = _case_of_finding(spec["finding"])
        if case is None or case.state != "reported":
            continue  # not ingested, or already advanced by an earlier run
        owner_actor = _actor(spec["owner"])
        cases.update_case(case, owner_actor, {"owner_id": owner_actor.user_id, **spec["fields"]})
        for author, privileged, body in spec["notes"]:
            cases.add_note(case, _actor(author), body, privileged=privileged)
        for target, who, reason in spec["steps"]:
            if target == "legal_review":
                for reference, note in spec["citations"]:
                    cite_clause(case, owner_actor, find_clause(reference), note)
            request = TransitionRequest(
                reason=reason, actions=spec["actions"] if target == "approved" else ()
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
    load_recipients,
    build_demo_packets,
]


def load_demo(echo: Echo = print) -> None:
    for step in DEMO_STEPS:
        step(echo)
    echo("demo data loaded")
