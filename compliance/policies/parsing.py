"""Reading the policies/ folder: front matter, numbered clauses, and what is wrong with them.

Pure functions over files and text; nothing here touches the database. The format is described
in policies/README.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from compliance.errors import InvalidInput

REQUIRED_FIELDS = ("document", "title", "short_title", "version", "effective_from", "owner")
OPTIONAL_FIELDS = ("effective_to", "next_review")
FIELD_LIMITS = {"title": 300, "short_title": 60, "owner": 254}

DOCUMENT_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,19}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLAUSE_NUMBER_RE = r"\d+(?:\.\d+)*"
# `## 4.2 Automated extraction` (levels 2-4); a trailing dot after the number is tolerated.
CLAUSE_HEADING_RE = re.compile(rf"^(#{{2,4}})\s+({CLAUSE_NUMBER_RE})\.?(?:\s+(.*?))?\s*#*\s*$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")


class _StringsOnlyLoader(yaml.SafeLoader):
    """YAML where every plain scalar stays a string: dates and versions are checked by us.

    PyYAML would otherwise turn `2026-03-01` into a date, `2026.10` into a float and raise a
    bare ValueError for `2026-02-30`.
    """


_StringsOnlyLoader.yaml_implicit_resolvers = {}


@dataclass(frozen=True)
class ParsedClause:
    number: str
    heading: str
    text: str
    position: int
    line: int


@dataclass(frozen=True)
class ParsedVersion:
    """One policy file, checked and ready to be stored."""

    path: str  # as shown to people: relative to the synced folder's parent
    document: str
    title: str
    short_title: str
    version: str
    effective_from: date
    effective_to: date | None
    owner: str
    next_review: date | None
    full_text: str
    sha256: str
    clauses: tuple[ParsedClause, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str]:
        return (self.document, self.version)


@dataclass(frozen=True)
class Period:
    """A version's effective period as the date checks see it."""

    label: str
    effective_from: date
    declared_to: date | None


def _parse_date(value: Any, name: str, errors: list[str]) -> date | None:
    if value is None:
        return None
    text = str(value).strip()
    if not DATE_RE.match(text):
        errors.append(f"{name} {text!r} is not a date in the form YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(f"{name} {text!r} is not a real calendar date")
        return None


def split_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """Split `---` YAML front matter from the Markdown body; returns (fields, body, body line)."""
    lines = text.lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError("the file does not start with front matter (a line '---')")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ValueError("the front matter is not closed by a second '---' line") from None
    try:
        fields = yaml.load("\n".join(lines[1:end]), Loader=_StringsOnlyLoader)  # noqa: S506
    except yaml.YAMLError as error:
        raise ValueError(f"the front matter is not valid YAML ({error.problem or error})") from None
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise ValueError("the front matter must be 'field: value' lines")
    return fields, "\n".join(lines[end + 1 :]), end + 2


def parse_clauses(body: str, first_line: int = 1) -> tuple[list[ParsedClause], list[str]]:
    """Numbered headings and the text under each, up to the next numbered heading."""
    clauses: list[ParsedClause] = []
    errors: list[str] = []
    current: dict[str, Any] | None = None
    seen: dict[str, int] = {}
    in_fence = False

    def close() -> None:
        if current is not None:
            clauses.append(
                ParsedClause(
                    number=current["number"],
                    heading=current["heading"],
                    text="\n".join(current["lines"]).strip(),
                    position=len(clauses) + 1,
                    line=current["line"],
                )
            )

    for offset, line in enumerate(body.split("\n")):
        line_no = first_line + offset
        if FENCE_RE.match(line):
            in_fence = not in_fence
        match = None if in_fence else CLAUSE_HEADING_RE.match(line)
        if match is None:
            if current is not None:
                current["lines"].append(line)
            continue
        close()
        number, heading = match.group(2), (match.group(3) or "").strip()
        if number in seen:
            errors.append(
                f"clause {number} appears twice (lines {seen[number]} and {line_no}); "
                "each clause number is used once per document"
            )
        else:
            seen[number] = line_no
        if not heading:
            errors.append(f"clause {number} on line {line_no} has no heading")
        current = {"number": number, "heading": heading[:300], "lines": [], "line": line_no}
    close()
    if not clauses:
        errors.append("no numbered clauses found (headings like '## 4.2 Automated extraction')")
    return clauses, errors


def parse_policy_text(raw: bytes, path: str) -> ParsedVersion:
    """Check one policy file; InvalidInput lists every problem found in it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text", details={path: "not UTF-8 text"}) from None
    errors: list[str] = []
    try:
        fields, body, body_line = split_front_matter(text)
    except ValueError as error:
        raise InvalidInput(f"{path}: {error}", details={path: str(error)}) from None

    for name in REQUIRED_FIELDS:
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.append(f"front matter field '{name}' is missing")
        elif not isinstance(value, str):
            errors.append(f"front matter field '{name}' must be a single line of text")
    unknown = sorted(set(fields) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS), key=str)
    if unknown:
        errors.append(
            "unknown front matter field(s): "
            + ", ".join(map(str, unknown))
            + " (allowed: "
            + ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
            + ")"
        )
    values = {k: v.strip() for k, v in fields.items() if isinstance(v, str)}
    document, version = values.get("document", ""), values.get("version", "")
    if document and not DOCUMENT_KEY_RE.match(document):
        errors.append(f"document {document!r} must be lower-case letters, digits and '-'")
    if version and not VERSION_RE.match(version):
        errors.append(f"version {version!r} must be letters, digits, '.', '_' or '-' (≤ 20)")
    for name, limit in FIELD_LIMITS.items():
        if len(values.get(name, "")) > limit:
            errors.append(f"{name} is longer than {limit} characters")
    effective_from = _parse_date(values.get("effective_from"), "effective_from", errors)
    effective_to = _parse_date(values.get("effective_to"), "effective_to", errors)
    next_review = _parse_date(values.get("next_review"), "next_review", errors)
    if effective_from and effective_to and effective_to < effective_from:
        errors.append("effective_to is before effective_from")

    clauses, clause_errors = parse_clauses(body, body_line)
    errors.extend(clause_errors)
    if errors:
        raise InvalidInput(f"{path}: " + "; ".join(errors), details={path: "; ".join(errors)})
    assert effective_from is not None  # a missing date was reported above
    return ParsedVersion(
        path=path,
        document=document,
        title=values["title"],
        short_title=values["short_title"],
        version=version,
        effective_from=effective_from,
        effective_to=effective_to,
        owner=values["owner"],
        next_review=next_review,
        full_text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        clauses=tuple(clauses),
    )


def policy_files(folder: Path) -> list[Path]:
    """Every policy file under `folder` (Markdown, except README files), in a stable order."""
    return sorted(p for p in folder.rglob("*.md") if p.is_file() and p.name.lower() != "readme.md")


def load_policy_folder(folder: Path) -> list[ParsedVersion]:
    """Read and check every file; all-or-nothing: InvalidInput names each bad file."""
    if not folder.is_dir():
        raise InvalidInput(f"no policy folder at {folder}", details={str(folder): "not found"})
    problems: dict[str, str] = {}
    parsed: list[ParsedVersion] = []
    base = folder.parent
    for path in policy_files(folder):
        shown = str(path.relative_to(base))
        try:
            parsed.append(parse_policy_text(path.read_bytes(), shown))
        except InvalidInput as error:
            problems.update(error.details or {shown: error.message})
    claimed: dict[tuple[str, str], str] = {}
    for item in parsed:
        other = claimed.get(item.key)
        if other is not None:
            problems[item.path] = (
                f"{item.document} version {item.version} is also claimed by {other}; "
                "each version has exactly one file"
            )
        else:
            claimed[item.key] = item.path
    if problems:
        count = len(problems)
        raise InvalidInput(
            f"policy sync refused, nothing stored: {count} file{'s' if count > 1 else ''} "
            "with problems",
            details=problems,
        )
    return parsed


def effective_date_problems(periods: list[Period]) -> list[str]:
    """Overlaps and gaps between consecutive versions of one document."""
    problems = []
    ordered = sorted(periods, key=lambda p: p.effective_from)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if earlier.effective_from == later.effective_from:
            problems.append(
                f"overlap: {earlier.label} and {later.label} both take effect on "
                f"{later.effective_from.isoformat()}"
            )
        elif earlier.declared_to is not None and earlier.declared_to >= later.effective_from:
            problems.append(
                f"overlap: {earlier.label} is declared in force until "
                f"{earlier.declared_to.isoformat()}, but {later.label} takes effect on "
                f"{later.effective_from.isoformat()}"
            )
        elif earlier.declared_to is not None and (
            later.effective_from - earlier.declared_to > timedelta(days=1)
        ):
            problems.append(
                f"gap: no version in force from "
                f"{(earlier.declared_to + timedelta(days=1)).isoformat()} to "
                f"{(later.effective_from - timedelta(days=1)).isoformat()} "
                f"(between {earlier.label} and {later.label})"
            )
    return problems
