"""Demo step: a recipients directory a legal team would keep. Every entry is fictional (the
addresses use reserved .example domains and invented registration numbers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from compliance.actor import Actor
from compliance.auth.models import User
from compliance.extensions import db
from compliance.notices.models import Recipient
from compliance.notices.operations import create_recipient

DIRECTORY: list[dict[str, Any]] = [
    {
        "name": "ModelHub, Inc.",
        "kind": "hosting_platform",
        "jurisdiction": "US",
        "subdivision": "CA",
        "email": "copyright@modelhub.example",
        "web_form_url": "https://modelhub.example/legal/report",
        "postal_address": "ModelHub, Inc., Attn: Copyright Agent\n100 Market Street\n"
        "San Francisco, CA 94105",
        "agent_name": "ModelHub, Inc. — Designated Copyright Agent",
        "agent_registration": "DMCA-1058821",
        "accepted_bases": ["copyright", "terms"],
        "response_days": 5,
        "notes": "Trust & Safety answers terms-of-service complaints through the web form.",
    },
    {
        "name": "EuroModels GmbH",
        "kind": "hosting_platform",
        "jurisdiction": "DE",
        "subdivision": "BE",
        "web_form_url": "https://euromodels.example/dsa-notice",
        "email": "legal@euromodels.example",
        "agent_name": "EuroModels GmbH — DSA point of contact",
        "accepted_bases": ["dsa", "terms"],
        "response_days": 7,
    },
    {
        "name": "Northwind Regional Cyber Crime Unit",
        "kind": "agency",
        "jurisdiction": "US",
        "subdivision": "CA",
        "email": "referrals@northwind-ccu.example",
        "postal_address": "450 Example Avenue\nSan Francisco, CA 94102",
        "accepted_bases": [],
        "response_days": 20,
        "notes": "Fictional agency for the demo: referrals by e-mail, then by case number.",
    },
    {
        "name": "Helix Research Labs",
        "kind": "partner_lab",
        "jurisdiction": "GB",
        "email": "trust-safety@helix-research.example",
        "accepted_bases": ["terms"],
        "in_sharing_community": True,
        "response_days": 10,
        "notes": "Member of our intel-sharing community (TLP:AMBER may be shared).",
    },
]
# Which directory entry each demo composition's recipient text stands for.
ADDRESSED = {
    "ModelHub, Inc. — Trust & Safety": "ModelHub, Inc.",
    "ModelHub, Inc. — Designated Copyright Agent (DMCA-1058821)": "ModelHub, Inc.",
    "EuroModels GmbH — notice and action": "EuroModels GmbH",
}


def load_recipients(echo: Callable[[str], None]) -> None:
    """The directory entries, added by counsel (idempotent: an entry by name is kept)."""
    counsel = db.session.scalar(select(User).where(User.email == "casey.lindqvist@lab.example"))
    actor = Actor.for_user(counsel) if counsel else Actor.cli_operator()
    added = []
    for entry in DIRECTORY:
        if db.session.scalar(select(Recipient.id).where(Recipient.name == entry["name"])):
            continue
        create_recipient(actor, dict(entry))
        added.append(entry["name"])
    db.session.commit()
    if added:
        echo("  recipients directory: " + ", ".join(added))


def directory_id(recipient_text: str) -> int | None:
    """The directory entry a demo composition is addressed to, if any."""
    name = ADDRESSED.get(recipient_text)
    if name is None:
        return None
    return db.session.scalar(select(Recipient.id).where(Recipient.name == name))
