"""The JSON bodies that create and edit a case through the API (they also make its OpenAPI doc).

Types are strict, as for findings: a script's "0.9" is not silently read as 0.9. The value
rules (lengths, ranges, who may own a case, the incident window's order) are the operations'
own, shared with the web form and the CLI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from compliance.cases.models import DOMAINS, SEVERITIES
from compliance.cases.operations import MAX_LENGTHS

Severity = Literal[SEVERITIES]
Domain = Literal[DOMAINS]


def _iso_string(value: Any) -> Any:
    # Pydantic would read a number as a Unix time; the contract wants ISO 8601 text only.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string with a time zone")
    return value


# ISO 8601 text with a time zone, never a number; the finding schema uses it too.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string)]


class CaseFields(BaseModel):
    """A case's details; in an edit, only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    summary: StrictStr = Field(
        None, max_length=MAX_LENGTHS["summary"], description="Markdown; needed for legal_review"
    )
    severity: Severity = None
    confidence: Annotated[float, Field(ge=0, le=1, strict=True)] | None = None
    owner: StrictStr | None = Field(
        None,
        description="e-mail of an active analyst or counsel; null unassigns; "
        "needed for investigating",
        examples=["alex.rivera@lab.example"],
    )
    suspected_actor: StrictStr | None = Field(None, max_length=MAX_LENGTHS["suspected_actor"])
    jurisdiction: StrictStr | None = Field(None, max_length=MAX_LENGTHS["jurisdiction"])
    incident_start: Timestamp | None = None
    incident_end: Timestamp | None = None
    estimated_queries: Annotated[StrictInt, Field(ge=0)] | None = None
    targeted_domains: list[Domain] = None

    def operation_fields(self) -> dict[str, Any]:
        """The fields sent, named as the operations name them (owner e-mail -> owner_id)."""
        from compliance.cases.operations import find_owner

        fields: dict[str, Any] = {}
        for name in sorted(self.model_fields_set - {"version"}):
            value = getattr(self, name)
            if name == "owner":
                fields["owner_id"] = find_owner(value)
            elif name == "summary":
                fields[name] = value or ""
            elif name in ("suspected_actor", "jurisdiction"):
                fields[name] = (value or "").strip() or None
            elif name == "targeted_domains":
                fields[name] = list(dict.fromkeys(value or []))
            elif name == "confidence" and value is not None:
                fields[name] = float(value)
            else:
                fields[name] = value
        return fields


class CaseCreate(CaseFields):
    """Open a case in `reported`."""

    title: StrictStr = Field(
        min_length=1,
        max_length=MAX_LENGTHS["title"],
        examples=["Templated coding prompts from 212 accounts"],
    )


class CaseEdit(CaseFields):
    """Change a case's details; send `version` (from GET) to refuse a stale edit with 409."""

    title: StrictStr = Field(None, min_length=1, max_length=MAX_LENGTHS["title"])
    version: StrictInt | None = Field(
        None, description="the version you read; a different current version answers 409"
    )
