"""Finding schema v1 (the detector contract): validates requests and generates the OpenAPI doc.

Strict on purpose: detectors are programs, and a silent coercion ("0.9" -> 0.9, a number read as
a timestamp) would put something in evidence that the detector never said.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from compliance.cases.models import SEVERITIES, SUBJECT_TYPES
from compliance.cases.schema import Timestamp
from compliance.evidence.models import FINDING_KINDS

SCHEMA_ID = "distillation-finding/v1"
DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_METRICS_BYTES = 64 * 1024
MAX_METRICS_DEPTH = 8
# One request must not be able to exhaust a worker: a batch holds at most this many findings
# (COMPLIANCE_MAX_BATCH_ITEMS), and a refusal lists at most this many problems with the total.
DEFAULT_MAX_BATCH_ITEMS = 1000
MAX_ERROR_DETAILS = 100

# The closed vocabularies of the schema are the models' own lists (one spelling each).
Kind = Literal[FINDING_KINDS]
Severity = Literal[SEVERITIES]
SubjectType = Literal[SUBJECT_TYPES]

_TOKEN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$")
_FINGERPRINT = re.compile(r"^[A-Za-z0-9_:.-]{6,200}$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


@functools.lru_cache(maxsize=65536)  # detectors name the same accounts and prefixes again and again
def normalise_subject(kind: str, raw: str) -> str:
    """The canonical spelling of a subject id, or ValueError naming what is wrong with it."""
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    if kind == "ip_prefix":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError as error:
            raise ValueError(f"not a valid IP prefix in CIDR notation ({error})") from None
    if kind == "email_domain":
        domain = value.lower().rstrip(".")
        if domain.startswith("@"):
            domain = domain[1:]
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("not a valid e-mail domain") from None
        if not _DOMAIN.match(domain):
            raise ValueError("not a valid e-mail domain (for example example.com)")
        return domain
    if kind == "payment_fingerprint":
        if not _FINGERPRINT.match(value):
            raise ValueError("6 to 200 characters of letters, digits and _ : . -")
        return value.lower()
    if kind == "org":
        if len(value) > 200:
            raise ValueError("at most 200 characters")
        return " ".join(value.split()).lower()
    if not _TOKEN_ID.match(value):  # account, api_key: opaque identifiers
        raise ValueError("1 to 200 characters of letters, digits and . _ : @ / + - (no spaces)")
    return value


class Detector(BaseModel):
    """The program that produced the finding."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=100, examples=["query-fingerprint"])
    version: StrictStr = Field(min_length=1, max_length=50, examples=["2.3.1"])


class SubjectRef(BaseModel):
    """Who or what the finding is about; findings sharing a subject land in the same case."""

    model_config = ConfigDict(extra="forbid")

    type: SubjectType
    id: StrictStr = Field(min_length=1, max_length=500, examples=["acct_81f2c0"])

    @field_validator("id")
    @classmethod
    def _valid_for_type(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        if kind is not None:
            normalise_subject(kind, value)
        return value

    @property
    def normalised(self) -> str:
        return normalise_subject(self.type, self.id)


class Attachment(BaseModel):
    """A file the detector sends with the finding (cluster listings, prompt samples)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=255, examples=["clusters.csv"])
    media_type: StrictStr = Field(examples=["text/csv"])
    content_base64: StrictStr = Field(description="the file's bytes, standard base64")

    @field_validator("name")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith(".") or "\x00" in value:
            raise ValueError("a plain file name: no path separator, no leading dot")
        return value

    @field_validator("media_type")
    @classmethod
    def _media_type(cls, value: str) -> str:
        if not _MEDIA_TYPE.match(value):
            raise ValueError("a media type such as text/csv")
        return value

    @field_validator("content_base64")
    @classmethod
    def _decodes(cls, value: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get("max_attachment_bytes", DEFAULT_MAX_ATTACHMENT_BYTES)
        if len(value) > (limit * 4) // 3 + 4:
            raise ValueError(f"attachment larger than the limit of {limit} bytes")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        if base64.b64encode(data).decode("ascii") != value:  # stray padding, loose bits
            raise ValueError("not canonical base64 (standard alphabet, exact padding)")
        if len(data) > limit:
            raise ValueError(f"attachment larger than the limit of {limit} bytes")
        return value

    def content(self) -> bytes:
        return base64.b64decode(self.content_base64, validate=True)


def nesting_depth(value: Any, limit: int = MAX_METRICS_DEPTH) -> int:
    """Nesting depth of containers (iterative, and stops counting just past `limit`)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class FindingV1(BaseModel):
    """A detector finding, schema distillation-finding/v1."""

    model_config = ConfigDict(
        extra="forbid",
        title="Finding",
        json_schema_extra={"description": "One detector finding (distillation-finding/v1)."},
    )

    schema_: Literal["distillation-finding/v1"] = Field(alias="schema")
    detector: Detector
    external_id: StrictStr = Field(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$", examples=["qf-20261018-0042"]
    )
    kind: Kind
    observed_from: Timestamp
    observed_to: Timestamp
    confidence: float = Field(ge=0, le=1, strict=True)
    severity: Severity
    subjects: list[SubjectRef] = Field(min_length=1, max_length=10_000)
    summary: StrictStr = Field(min_length=1, max_length=10_000)
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="free-form; at most 64 KiB as JSON, nesting ≤ 8"
    )
    sample_prompts: list[Annotated[StrictStr, Field(max_length=20_000)]] = Field(
        default_factory=list, max_length=50
    )
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)

    @field_validator("metrics")
    @classmethod
    def _metrics_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if nesting_depth(value) > MAX_METRICS_DEPTH:  # first: serialising would recurse
            raise ValueError(f"metrics nest deeper than {MAX_METRICS_DEPTH} levels")
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        if size > MAX_METRICS_BYTES:
            raise ValueError(f"metrics take {size} bytes as JSON; the limit is {MAX_METRICS_BYTES}")
        return value

    @model_validator(mode="after")
    def _window_in_order(self) -> FindingV1:
        if self.observed_from > self.observed_to:
            # A rule across two fields: the error names both (either may be the wrong one).
            raise PydanticCustomError(
                "window_order",
                "observed_from is after observed_to",
                {"fields": ["observed_from", "observed_to"]},
            )
        return self

    @property
    def key(self) -> tuple[str, str]:
        return (self.detector.name, self.external_id)


class IngestResult(BaseModel):
    """What happened to one finding of a batch."""

    index: int
    finding_id: int
    case_ref: str
    status: Literal["created", "attached", "duplicate"]


class IngestResponse(BaseModel):
    results: list[IngestResult]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def field_path(loc: tuple[Any, ...]) -> str:
    """The dotted path of a validation error's location (`subjects.0.id`); "" is the root."""
    return ".".join("schema" if part == "schema_" else str(part) for part in loc)


def error_details(error: ValidationError, index: int | None = None) -> list[dict[str, Any]]:
    """One `{index, field, message}` per problem; a cross-field rule gives one per field."""
    details = []
    for problem in error.errors(include_url=False):
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        prefix = field_path(problem["loc"])
        fields = (problem.get("ctx") or {}).get("fields") or [""]
        for name in fields:
            path = ".".join(part for part in (prefix, name) if part)
            details.append({"index": index, "field": path, "message": message})
    return details


def _may_hold_nul(value: Any) -> bool:
    """False when no string or key in `value` can hold U+0000 (one pass of the C encoder).

    JSON writes U+0000 as the escape \\u0000, so text without that sequence holds none; a
    match (or anything the encoder refuses) sends the item through the exact walk below.
    """
    try:
        return "\\u0000" in json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return True


def _nul_paths(value: Any) -> list[str]:
    """Dotted paths of every string (or key) holding U+0000 (iterative: any nesting depth)."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                found.append(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    found.append(name)
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), c) for i, c in enumerate(item))
    return sorted(found)


class CappedList(list):
    """A list that keeps its first `cap` entries and counts every entry offered."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap, self.total = cap, 0

    def append(self, entry: Any) -> None:
        self.total += 1
        if len(self) < self.cap:
            super().append(entry)

    def extend(self, entries: Any) -> None:
        for entry in entries:
            self.append(entry)


class TooManyFindings(ValueError):
    """A body holds more findings than one batch may (refused before the rest is parsed)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a batch holds at most {limit:,} findings; send the rest separately")
        self.limit = limit


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def parse_batch(body: bytes | str, max_items: int = DEFAULT_MAX_BATCH_ITEMS) -> Any:
    """Parse a body of findings (one object or an array), refusing an array of more than
    `max_items` findings as soon as the parser reaches item `max_items + 1`.

    The array is decoded one item at a time, so an oversized batch costs at most `max_items`
    decoded items, never the whole body. Raises TooManyFindings, or ValueError / RecursionError
    for bodies that are not JSON.
    """
    text = body.decode(json.detect_encoding(body)) if isinstance(body, bytes) else body
    start = _WHITESPACE.match(text).end()
    if not text.startswith("[", start):
        return json.loads(text)
    decoder = json.JSONDecoder()
    items: list[Any] = []
    index = _WHITESPACE.match(text, start + 1).end()
    if text.startswith("]", index):
        index += 1
    else:
        while True:
            item, index = decoder.raw_decode(text, index)
            items.append(item)
            if len(items) > max_items:
                raise TooManyFindings(max_items)
            index = _WHITESPACE.match(text, index).end()
            if text.startswith("]", index):
                index += 1
                break
            if not text.startswith(",", index):
                raise json.JSONDecodeError("expected ',' or ']'", text, index)
            index = _WHITESPACE.match(text, index + 1).end()
    if _WHITESPACE.match(text, index).end() != len(text):
        raise json.JSONDecodeError("extra data after the array", text, index)
    return items


def validate_batch(
    items: list[Any],
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    max_details: int = MAX_ERROR_DETAILS,
) -> tuple[list[FindingV1], CappedList]:
    """Validate every item; returns the findings and the first `max_details` problems (index,
    field, message); the problem list's `total` says how many there are in all.

    Also refuses the same (detector, external_id) twice in one batch: the batch would
    contradict itself.
    """
    findings: list[FindingV1] = []
    errors = CappedList(max_details)
    seen: dict[tuple[str, str], int] = {}
    context = {"max_attachment_bytes": max_attachment_bytes}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": "", "message": "must be an object"})
            continue
        nul = _nul_paths(item) if _may_hold_nul(item) else []
        if nul:  # PostgreSQL cannot store U+0000 in text or JSON: refuse it on every backend
            errors.extend(
                {"index": index, "field": path, "message": "contains a NUL character (U+0000)"}
                for path in nul[:20]
            )
            continue
        try:
            finding = FindingV1.model_validate(item, context=context)
        except ValidationError as error:
            errors.extend(error_details(error, index))
            continue
        if finding.key in seen:
            errors.append(
                {
                    "index": index,
                    "field": "external_id",
                    "message": f"repeats item {seen[finding.key]} of this batch "
                    f"(same detector and external_id)",
                }
            )
            continue
        seen[finding.key] = index
        findings.append(finding)
    return findings, errors
