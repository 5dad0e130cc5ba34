"""What counsel chose for a packet (its composition), checked at the edge.

A composition is stored with every packet (draft or final) in `Packet.request_fields`. A draft
built from a composition is its *preview*; a final packet is built from a preview's
composition and must come out of the same inputs (see `operations.request_final`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from compliance.errors import InvalidInput

# Takedown notices rest on one legal basis each; the README says which fits which situation.
BASES = {
    "terms": "Terms-of-service complaint under the platform's content policy",
    "copyright": "Copyright notice under 17 U.S.C. § 512(c)(3)",
    "dsa": "EU Digital Services Act notice under Article 16",
}
PARTIES = {
    "accused": "The accused party",
    "third_party": "Third parties (other customers)",
    "us": "Us",
    "recipient": "The recipient",
}
MAX_TEXT = 20_000
_HTTPS = re.compile(r"^https://[^\s<>\"']+$")

Party = Literal["accused", "third_party", "us", "recipient"]


class Composition(BaseModel):
    """Every choice counsel makes before a final build. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    basis: Literal["terms", "copyright", "dsa"] | None = None
    recipient: str = Field("", max_length=300)
    # The directory entry (compliance.notices.models.Recipient) the packet is addressed to;
    # None for a one-off recipient typed as free text.
    recipient_id: int | None = Field(None, ge=1)
    recipient_contact: str = Field("", max_length=1000)
    # TLP:AMBER partner material goes only to a recipient counsel confirms is inside the
    # sharing community; the confirmation is stored here and in the audit trail.
    recipient_in_community: bool = False
    # Exhibit keys ("finding:12", "item:40"); None means every exhibit eligible for the type.
    exhibits: list[str] | None = None
    # Conduct and notice entries left out of the chronology, by key.
    chronology_excluded: list[str] = Field(default_factory=list)
    # Internal workflow entries counsel adds on purpose: transition key -> the wording to print.
    chronology_internal: dict[str, str] = Field(default_factory=dict)
    narrative: str = Field("", max_length=MAX_TEXT)
    offending_urls: list[str] = Field(default_factory=list, max_length=50)
    repository: str = Field("", max_length=300)
    files: list[str] = Field(default_factory=list, max_length=200)
    uploader: str = Field("", max_length=300)
    copyrighted_work: str = Field("", max_length=MAX_TEXT)
    remedy: str = Field("", max_length=4000)
    agency_contact: str = Field("", max_length=300)
    estimated_value: str = Field("", max_length=300)
    protective_measures: str = Field("", max_length=4000)
    custodian: str = Field("", max_length=254)  # e-mail of the records custodian (referral)
    # Counsel's corrections of the redaction review: normalised identifier -> party.
    parties: dict[str, Party] = Field(default_factory=dict)

    @field_validator("offending_urls")
    @classmethod
    def _https_only(cls, urls: list[str]) -> list[str]:
        cleaned = [u.strip() for u in urls if u.strip()]
        for url in cleaned:
            if not _HTTPS.match(url):
                raise ValueError(f"{url[:80]!r} is not an https:// address")
        return cleaned

    @field_validator("files")
    @classmethod
    def _no_blank_files(cls, files: list[str]) -> list[str]:
        return [f.strip() for f in files if f.strip()]

    @field_validator("chronology_internal")
    @classmethod
    def _wording_given(cls, entries: dict[str, str]) -> dict[str, str]:
        cleaned = {k: " ".join(v.split()) for k, v in entries.items()}
        for key, wording in cleaned.items():
            if not wording:
                raise ValueError(f"entry {key} needs the wording to print")
            if len(wording) > 500:
                raise ValueError(f"entry {key}: at most 500 characters")
        return cleaned

    def stored(self) -> dict[str, Any]:
        """The JSON kept on the packet: only what differs from the defaults."""
        return self.model_dump(exclude_defaults=True)


def parse(fields: dict[str, Any] | None) -> Composition:
    """A composition from stored or submitted fields; InvalidInput names each bad field."""
    try:
        return Composition.model_validate(fields or {})
    except ValidationError as error:
        details = {}
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or ""
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown field"
            details.setdefault(name, message)
        raise InvalidInput("some packet fields are not valid", details=details) from None


def required_for_final(packet_type: str, composition: Composition) -> dict[str, str]:
    """What a final packet of this type cannot go without (drafts may be incomplete)."""
    c = composition
    errors: dict[str, str] = {}
    if packet_type == "takedown":
        if not c.recipient:
            errors["recipient"] = "say which platform receives the notice"
        if not (c.offending_urls or c.repository):
            errors["offending_urls"] = "name the offending model's URL or repository"
        if c.basis == "copyright" and not c.copyrighted_work:
            errors["copyrighted_work"] = "a copyright notice identifies the copyrighted work"
        if c.basis == "dsa":
            if not c.offending_urls:
                errors["offending_urls"] = "an Article 16 notice gives the exact URLs"
            if not c.narrative:
                errors["narrative"] = (
                    "an Article 16 notice explains, with substantiation, why the content is illegal"
                )
    elif packet_type == "referral":
        if not c.recipient:
            errors["recipient"] = "say which agency receives the referral"
        if not c.agency_contact:
            errors["agency_contact"] = "name the person at the agency it is addressed to"
        if not c.narrative:
            errors["narrative"] = "a referral carries the narrative counsel wrote"
        if not c.custodian:
            errors["custodian"] = "a referral's records certification is made by a custodian"
    return errors


def normalise(identifier: str) -> str:
    """One spelling per identifier: case and spacing do not make a different one."""
    return " ".join(identifier.split()).casefold()
