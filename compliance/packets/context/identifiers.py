"""The identifiers a packet shows, the party each belongs to, and a takedown's pseudonyms.

An identifier (an account, an API key, an e-mail address, an organisation...) appears when it
is printed as a field or occurs in text the packet reproduces. Each belongs to a party: the
accused, a third party (another customer), us, or the recipient. Counsel reviews the list and
may correct the party; a takedown shows third parties' customer identifiers as numbered
pseudonyms wherever it reproduces text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from compliance.packets.composition import PARTIES, normalise
from compliance.packets.context.facts import Evidence, Gathered

IDENTIFIER_LABELS = {
    "account": "Account",
    "api_key": "API key",
    "org": "Organisation",
    "ip_prefix": "IP prefix",
    "payment_fingerprint": "Payment fingerprint",
    "email_domain": "E-mail domain",
    "email": "E-mail address",
    "url": "URL",
    "person": "Name",
}
# Customer identifiers: a third party's are pseudonymised wherever a takedown reproduces text.
CUSTOMER_TYPES = ("account", "api_key", "org", "ip_prefix", "payment_fingerprint", "email_domain")


@dataclass(frozen=True)
class Identifier:
    """One identifier that will appear in the packet, with the party it belongs to."""

    key: str  # normalised value
    value: str  # as first spelled
    type: str
    party: str
    shown_as: str  # the value, or its pseudonym in a takedown

    @property
    def type_label(self) -> str:
        return IDENTIFIER_LABELS.get(self.type, self.type.replace("_", " "))


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def identifier_candidates(
    g: Gathered, exhibits: list[Evidence]
) -> list[tuple[str, str, str, bool]]:
    """(type, value, default party, printed as a field) of every identifier a packet may show.

    Subjects of the exhibits are customer identifiers: a third party's unless counsel says they
    are the accused party's (the suspected actor's own name is recognised).
    """
    c = g.composition
    accused = {normalise(v) for v in (g.case.get("suspected_actor"), c.uploader) if v}
    rows: list[tuple[str, str, str, bool]] = []
    if g.case.get("suspected_actor"):
        rows.append(("org", g.case["suspected_actor"], "accused", True))
    if c.uploader:
        rows.append(("account", c.uploader, "accused", True))
    rows.append(("org", g.organisation["name"], "us", True))
    rows.append(("email", g.organisation["contact_email"], "us", True))
    for person in (g.signatory, g.custodian):
        if person is not None:
            rows.append(("person", person.full_name, "us", True))
            rows.append(("email", person.email, "us", True))
    if c.recipient:
        rows.append(("org", c.recipient, "recipient", True))
    for url in [*c.offending_urls, *([c.repository] if c.repository else [])]:
        rows.append(("url", url, "accused", True))
    actor = normalise(g.case.get("suspected_actor") or "")
    for evidence in exhibits:
        for kind, value in evidence.subjects:
            key = normalise(value)
            # "Nimbus AI" is the accused "Nimbus AI GmbH": an organisation named inside the
            # suspected actor's name is theirs.
            theirs = key in accused or (kind == "org" and actor and key in actor)
            rows.append((kind, value, "accused" if theirs else "third_party", False))
    return rows


def review_identifiers(
    g: Gathered, exhibits: list[Evidence], texts: Iterable[str]
) -> list[Identifier]:
    """Every identifier that will appear, one per normalised spelling, with its party.

    An identifier appears when it is printed as a field (actor, recipient, URLs, our contact)
    or occurs in text the packet reproduces (narrative, file contents, indicators). Counsel's
    corrections (`composition.parties`) win over the defaults. In a takedown, third parties'
    customer identifiers and e-mail addresses are shown as numbered pseudonyms.
    """
    corpus = " ".join("\n".join(texts).casefold().split())
    seen: dict[str, Identifier] = {}
    counters: dict[str, int] = {}

    parties = g.composition.parties

    def add(kind: str, value: str, party: str) -> None:
        key = normalise(value)
        # Counsel's word for this identifier, else for every identifier of its type.
        party = parties.get(key) or parties.get(f"*:{kind}") or party
        shown = " ".join(value.split())
        if party == "third_party" and g.packet_type == "takedown" and kind != "url":
            counters[kind] = counters.get(kind, 0) + 1
            label = IDENTIFIER_LABELS.get(kind, kind).lower()
            shown = f"[third-party {label} {counters[kind]}]"
        seen[key] = Identifier(key, " ".join(value.split()), kind, party, shown)

    for kind, value, party, printed in identifier_candidates(g, exhibits):
        key = normalise(value)
        if key and key not in seen and (printed or key in corpus):
            add(kind, value, party)
    for email in sorted(set(_EMAIL.findall(corpus))):
        if normalise(email) not in seen:
            add("email", email, "third_party")
    order = list(PARTIES)
    return sorted(seen.values(), key=lambda i: (order.index(i.party), i.type, i.key))


def pseudonymiser(identifiers: Iterable[Identifier]) -> Callable[[str], str]:
    """Replace each pseudonymised identifier in a text, whatever its case or spacing."""
    replaced = [i for i in identifiers if i.shown_as != i.value]
    if not replaced:
        return lambda text: text
    patterns = [
        (
            re.compile(
                r"\s+".join(re.escape(part) for part in i.value.split()), flags=re.IGNORECASE
            ),
            i.shown_as,
        )
        for i in sorted(replaced, key=lambda i: -len(i.value))
    ]

    def apply(text: str) -> str:
        for pattern, shown in patterns:
            text = pattern.sub(shown, text)
        return text

    return apply
