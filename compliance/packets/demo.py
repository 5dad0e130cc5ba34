"""Demo step: a signing key, signatory profiles, and the packets a legal team would have made.

On the Lattice case (approved for takedown and referral): a terms-of-service complaint to a
model hub, composed, previewed, built final and marked sent; then a referral (which cites that
notice in its chronology) and the internal memo. On the Nimbus canary case (approved for
takedown): a copyright notice and an EU Digital Services Act notice. Every recipient, person
and address is fictional.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from compliance.actor import Actor
from compliance.auth.models import User
from compliance.cases.models import Case
from compliance.cases.operations import transition_case
from compliance.cases.workflow import TransitionRequest
from compliance.db import utcnow
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.packets.composition import parse as parse_composition
from compliance.packets.models import Packet
from compliance.packets.operations import request_final, request_packet, set_signatory_profile
from compliance.packets.tasks import build_packet

ADDRESS = "Meridian AI, Legal Department\n500 Howard Street, Suite 1200\nSan Francisco, CA 94105"
PROFILES = {
    "casey.lindqvist@lab.example": {
        "full_name": "Casey Lindqvist",
        "title": "Senior Counsel, Platform Enforcement",
        "bar_admission": "Admitted in California (State Bar No. 287104)",
    },
    "jordan.mehta@lab.example": {
        "full_name": "Jordan Mehta",
        "title": "Counsel, Intellectual Property",
        "bar_admission": "Admitted in New York (Reg. No. 5530219)",
    },
    "dana.whitfield@lab.example": {
        "full_name": "Dana Whitfield",
        "title": "Records Custodian, Trust & Safety Operations",
        "records_custodian": True,
        "custodian_qualification": (
            "I administer the lab's evidence system and its retention of abuse-detection "
            "records, and am familiar with how those records are made and kept"
        ),
    },
}
LATTICE_NARRATIVE = (
    "Between 1 and 19 October 2026, Lattice Systems Ltd operated 212 accounts on our API that "
    "sent 1.84 million prompts generated from 14 templates, swept 95% of our coding and "
    "mathematics topics and asked for step-by-step reasoning in most requests: the pattern of "
    "a data harvest for model training. On 2 November 2026 Lattice published "
    '*lattice-coder-7b*, whose model card credits "synthetic reasoning traces from a frontier '
    'API" for 60% of its fine-tuning data.'
)
NIMBUS_WORK = (
    "The text of the answer our model gave, between 1 September and 15 October 2026, to "
    'questions about the "Halvorsen mnemonic": an original passage written by Meridian AI '
    "(describing the fictional element 'quillium') and served only through our API. It is "
    "reproduced in Exhibit 1, lines 3 to 6."
)
NIMBUS_DSA = (
    "The model *nimbus-7b-instruct* reproduces, word for word, an original passage written by "
    "Meridian AI and served only through our API (37 of 40 probes, Exhibit 1). Distributing a "
    "model that reproduces it on request infringes our copyright in that passage, which is "
    "illegal content under Union and German law (Directive 2001/29/EC, art. 2 and 3; UrhG "
    "§§ 16, 19a)."
)
COMPOSITIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    # (case finding, counsel e-mail, packet type, composition)
    (
        "qf-20261018-0042",
        "casey.lindqvist@lab.example",
        "takedown",
        {
            "basis": "terms",
            "recipient": "ModelHub, Inc. — Trust & Safety",
            "recipient_contact": "abuse@modelhub.example",
            "offending_urls": ["https://modelhub.example/lattice-systems/lattice-coder-7b"],
            "repository": "lattice-systems/lattice-coder-7b",
            "files": ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
            "uploader": "lattice-systems",
            "narrative": LATTICE_NARRATIVE,
        },
    ),
    (
        "qf-20261018-0042",
        "casey.lindqvist@lab.example",
        "referral",
        {
            "recipient": "Federal Bureau of Investigation, San Francisco Field Office",
            "agency_contact": "Special Agent R. Alvarez, Cyber Squad 3",
            "recipient_contact": "450 Golden Gate Avenue, San Francisco, CA 94102",
            "narrative": LATTICE_NARRATIVE
            + "\n\nWe ask the Bureau to consider whether this conduct, which circumvented the "
            "access controls described in section 4, warrants investigation.",
            "estimated_value": "USD 2.1 million (compute at list price for 1.84M queries)",
            "custodian": "dana.whitfield@lab.example",
            "parties": {"*:account": "accused", "*:payment_fingerprint": "accused"},
        },
    ),
    ("qf-20261018-0042", "casey.lindqvist@lab.example", "memo", {}),
    (
        "cw-20261112-nimbus-7b",
        "jordan.mehta@lab.example",
        "takedown",
        {
            "basis": "copyright",
            "recipient": "ModelHub, Inc. — Designated Copyright Agent (DMCA-1058821)",
            "recipient_contact": "copyright@modelhub.example",
            "offending_urls": ["https://modelhub.example/nimbus-ai/nimbus-7b-instruct"],
            "repository": "nimbus-ai/nimbus-7b-instruct",
            "uploader": "nimbus-ai",
            "copyrighted_work": NIMBUS_WORK,
        },
    ),
    (
        "cw-20261112-nimbus-7b",
        "jordan.mehta@lab.example",
        "takedown",
        {
            "basis": "dsa",
            "recipient": "EuroModels GmbH — notice and action",
            "recipient_contact": "https://euromodels.example/dsa-notice",
            "offending_urls": ["https://euromodels.example/models/nimbus-ai/nimbus-7b-instruct"],
            "uploader": "nimbus-ai",
            "narrative": NIMBUS_DSA,
        },
    ),
]


def set_up_signatories(echo: Callable[[str], None]) -> None:
    """Each demo signatory's own profile (idempotent: set again, nothing changes)."""
    for email, fields in PROFILES.items():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            continue
        profile = {
            "organisation": "Meridian AI",
            "postal_address": ADDRESS,
            "phone": "+1 415 555 0142",
            "email": email,
            **fields,
        }
        set_signatory_profile(user, Actor.for_user(user), profile)
    db.session.commit()
    echo("  signatory profiles: " + ", ".join(PROFILES))


def build_demo_packets(echo: Callable[[str], None]) -> None:
    """Compose, preview and build the demo packets (idempotent: a case with packets is done)."""
    from compliance.packets.cli import ensure_demo_key

    echo("  " + ensure_demo_key())
    set_up_signatories(echo)
    for finding, email, packet_type, composition in COMPOSITIONS:
        case = db.session.scalar(
            select(Case)
            .join(Finding, Finding.case_id == Case.id)
            .where(Finding.external_id == finding)
        )
        counsel = db.session.scalar(select(User).where(User.email == email))
        if case is None or counsel is None:
            continue
        from compliance.notices.demo import directory_id

        if recipient_id := directory_id(composition.get("recipient", "")):
            composition = {**composition, "recipient_id": recipient_id}
        stored = parse_composition(composition).stored()
        existing = db.session.scalars(
            select(Packet).where(Packet.case_id == case.id, Packet.packet_type == packet_type)
        )
        if any(p.request_fields == stored for p in existing):
            continue
        actor = Actor.for_user(counsel)
        preview = request_packet(case, packet_type, actor, fields=composition)
        db.session.commit()
        preview = build_packet(preview.id).packet
        built = preview
        if packet_type != "memo" and case.state in ("approved", "action_taken"):
            final = request_final(preview, actor)
            db.session.commit()
            built = build_packet(final.id).packet
        echo(
            f"  packet {built.id}: {'draft' if built.draft else 'final'} {packet_type} "
            f"for {case.ref} ({built.status}, {built.page_count} pages)"
        )
        if packet_type == "takedown" and not built.draft and composition["basis"] == "terms":
            _send(built, actor)


def _send(packet: Packet, actor: Actor) -> None:
    """The complaint went to the hub's web form, whose receipt is kept as proof; the hub
    acknowledged it with a ticket number; the case moves to action taken."""
    from compliance.notices.models import Notice
    from compliance.notices.operations import Upload, mark_sent, transition_notice

    receipt = (
        b"Subject: [ModelHub T&S] We received your report (ticket MH-4471)\n"
        b"From: no-reply@modelhub.example\n\n"
        b"Thank you. Your report about lattice-systems/lattice-coder-7b was received and "
        b"assigned ticket MH-4471.\n"
    )
    mark_sent(
        packet,
        actor,
        recipient=""
        if packet.request_fields.get("recipient_id")
        else (packet.request_fields["recipient"]),
        channel="web_form",
        sent_on=utcnow() - timedelta(minutes=5),
        their_reference="MH-4471",
        proof=Upload("modelhub-receipt-MH-4471.eml", "message/rfc822", receipt),
    )
    notice = db.session.scalar(select(Notice).where(Notice.packet_id == packet.id))
    transition_notice(notice, actor, "acknowledged", note="Ticket MH-4471 assigned")
    transition_case(packet.case, "action_taken", actor, TransitionRequest())
    db.session.commit()
