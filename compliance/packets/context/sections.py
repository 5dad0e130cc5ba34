"""The parts of a packet around its exhibits, and its table of contents.

The heading (title, legal basis, confidentiality line), the case as the recipient sees it, the
conduct in words, the indicators and the scale (referral and memo only), the signatory, the
custodian's certification of records (referral only), and the sections each type of packet
has, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compliance.packets.composition import BASES, Composition, normalise
from compliance.packets.context.exhibits import Exhibit
from compliance.packets.context.facts import Gathered, Person
from compliance.packets.context.manifest import TEMPLATE_VERSION

CONFIDENTIALITY = {
    "takedown": "CONFIDENTIAL — PREPARED FOR THE HOSTING PLATFORM",
    "referral": "CONFIDENTIAL — LAW ENFORCEMENT SENSITIVE",
    "memo": "PRIVILEGED & CONFIDENTIAL — ATTORNEY-CLIENT COMMUNICATION / ATTORNEY WORK PRODUCT",
}
TITLES = {
    ("takedown", "terms"): "Complaint of Terms-of-Service Violation and Request for Removal",
    ("takedown", "copyright"): "Notification of Claimed Copyright Infringement",
    ("takedown", "dsa"): "Notice of Illegal Content",
    ("referral", None): "Referral of an Unauthorized Model Distillation Campaign",
    ("memo", None): "Internal Counsel Memorandum",
}
SUBTITLES = {
    ("takedown", "terms"): "Under the platform's content policy",
    ("takedown", "copyright"): "Under 17 U.S.C. § 512(c)(3)",
    ("takedown", "dsa"): "Under Article 16 of Regulation (EU) 2022/2065 (Digital Services Act)",
}
# What each kind of finding shows about the conduct, in words for the recipient.
CONDUCT = {
    "query_fingerprint": "templated prompts sent in volume from many accounts",
    "rate_anomaly": "machine-regular request timing and the rotation of accounts and keys to "
    "stay under rate limits",
    "cot_elicitation": "prompts crafted to extract step-by-step reasoning at scale",
    "coverage_sweep": "systematic sweeps across whole subject domains",
    "canary_hit": "outputs carrying canary markers that exist only in our models' answers, "
    "reproduced by the model complained of",
    "account_linkage": "accounts operated together (shared payment, network or organisation "
    "details)",
}


def heading(g: Gathered) -> dict[str, Any]:
    """What the packet is: its type and legal basis, title, confidentiality line, status."""
    basis = (g.composition.basis or "terms") if g.packet_type == "takedown" else None
    return {
        "type": g.packet_type,
        "basis": basis,
        "basis_label": BASES.get(basis or "", ""),
        "title": TITLES[(g.packet_type, basis)],
        "subtitle": SUBTITLES.get((g.packet_type, basis), ""),
        "confidentiality": CONFIDENTIALITY[g.packet_type],
        "draft": g.draft,
        "packet_id": g.packet_id,
        "template_version": TEMPLATE_VERSION,
        "built_at": g.built_at,
        "privileged": g.packet_type == "memo",
    }


def case_as_printed(g: Gathered, redact: Callable[[str], str] | None) -> dict[str, Any]:
    """The case as the recipient sees it; the memo adds our assessment."""
    accused = g.case.get("suspected_actor") or ""
    return {
        "ref": g.case["ref"],
        "matter": matter(g, g.composition),
        "suspected_actor": redact(accused) if redact else accused,
        "jurisdiction": g.case.get("jurisdiction") or "",
        "created_at": g.case.get("created_at"),
        # The memo's assessment; outgoing packets neither show nor depend on these.
        **(
            {k: g.case.get(k) for k in ("state", "severity", "confidence", "chosen_actions")}
            if g.packet_type == "memo"
            else {}
        ),
    }


def matter(g: Gathered, c: Composition) -> str:
    """What the packet is about, in one line for its heading."""
    if g.packet_type == "takedown":
        target = c.repository or (c.offending_urls[0] if c.offending_urls else "")
        return f"Removal of {target}" if target else "Removal of a distilled model"
    if g.packet_type == "referral":
        actor = g.case.get("suspected_actor") or "an unidentified party"
        return f"Unauthorized distillation of {g.organisation['name']}'s AI models by {actor}"
    return g.case.get("title") or g.case["ref"]


def conduct_statement(exhibits: tuple[Exhibit, ...]) -> list[str]:
    """What the exhibits show about the conduct, once per kind of finding."""
    kinds = list(dict.fromkeys(e.kind for e in exhibits if e.kind in CONDUCT))
    return [CONDUCT[k] for k in kinds]


def indicators(
    exhibits: tuple[Exhibit, ...],
) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """(type, value, exhibit numbers) of every subject of the exhibits, one per spelling."""
    found: dict[str, tuple[str, str, set[int]]] = {}
    for exhibit in exhibits:
        for kind, value in exhibit.subjects:
            key = f"{kind}\0{normalise(value)}"
            found.setdefault(key, (kind, " ".join(value.split()), set()))[2].add(exhibit.number)
    return tuple(
        (kind, value, tuple(sorted(numbers)))
        for kind, value, numbers in sorted(found.values(), key=lambda r: (r[0], r[1].casefold()))
    )


def scale(g: Gathered, exhibits: tuple[Exhibit, ...]) -> dict[str, Any]:
    """The scale of the conduct: the case's estimates and the exhibits' summed metrics."""
    totals: dict[str, float] = {}
    for exhibit in exhibits:
        for key, value in exhibit.metrics:
            if key in ("requests", "accounts", "api_keys", "tokens") and isinstance(
                value, int | float
            ):
                totals[key] = totals.get(key, 0) + value
    return {
        "estimated_queries": g.case.get("estimated_queries"),
        "estimated_value": g.composition.estimated_value,
        "totals": sorted(totals.items()),
        "domains": g.case.get("targeted_domains") or [],
    }


def person_as_printed(p: Person | None, placeholder: str) -> dict[str, str]:
    """A signatory or custodian for the template; a placeholder when none is named yet."""
    if p is None:
        return {
            "full_name": placeholder,
            "title": "",
            "organisation": "",
            "postal_address": "",
            "phone": "",
            "email": "",
            "bar_admission": "",
            "qualification": "",
            "missing": "yes",
        }
    return {**p.__dict__, "missing": ""}


def certification(g: Gathered, exhibits: tuple[Exhibit, ...]) -> dict[str, Any]:
    """The records custodian's certification of the exhibits (a referral's last section)."""
    return {
        "custodian": person_as_printed(g.custodian, "[records custodian to be named]"),
        "place": g.organisation["place"],
        "date": g.built_at,
        "system": (
            f"the evidence system of {g.organisation['name']}, which stores each record "
            "write-once under the SHA-256 of its bytes and keeps a chain of custody for it"
        ),
        "method": (
            "SHA-256 (FIPS 180-4) computed server-side over the exact bytes received when each "
            "item was collected, and recomputed over the stored bytes when this packet was "
            "built; the two values were compared"
        ),
        "rows": [(e.number, e.description, e.reproduction, e.sha256) for e in exhibits],
    }


def toc(context: dict[str, Any]) -> list[tuple[str, str]]:
    """The contents: the type's sections, then the shared ones (long lists abridged)."""
    doc = context["doc"]
    sections = SECTIONS[(doc["type"], doc["basis"])]
    exhibits = context["exhibits"]
    listed = [(e.anchor, f"Exhibit {e.number}") for e in exhibits[:40]]
    rows = [*sections, ("exhibit-index", "Exhibit index"), *listed]
    if context["certification"]:
        rows.append(("certification", "Certification of records"))
    return rows


SECTIONS = {
    ("takedown", "terms"): [
        ("notice", "Complaint"),
        ("material", "1. The material complained of"),
        ("conduct", "2. The conduct and the terms breached"),
        ("chronology", "3. Chronology"),
        ("remedy", "4. Remedy sought"),
        ("statements", "5. Statement and signature"),
    ],
    ("takedown", "copyright"): [
        ("notice", "Notification"),
        ("work", "1. The copyrighted work"),
        ("material", "2. The infringing material and its location"),
        ("conduct", "3. How the work was copied"),
        ("chronology", "4. Chronology"),
        ("statements", "5. Statements and signature"),
    ],
    ("takedown", "dsa"): [
        ("notice", "Notice"),
        ("explanation", "1. Why the content is illegal"),
        ("material", "2. Exact electronic location"),
        ("chronology", "3. Chronology"),
        ("statements", "4. Notifier and statement"),
    ],
    ("referral", None): [
        ("narrative", "Referral"),
        ("parties", "1. Parties and jurisdictions"),
        ("discovery", "2. How and when the conduct was discovered"),
        ("chronology", "3. Chronology of the conduct"),
        ("measures", "4. Protective measures in force"),
        ("clauses", "5. Terms of service breached"),
        ("scale", "6. Scale and estimated value"),
        ("indicators", "7. Indicators"),
        ("contact", "8. Point of contact"),
    ],
    ("memo", None): [
        ("assessment", "Memorandum"),
        ("summary", "Case summary"),
        ("chronology", "Workflow history"),
        ("clauses", "Terms of service cited"),
        ("notes", "Counsel and investigator notes"),
    ],
}
