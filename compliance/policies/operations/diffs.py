"""What changed between two versions: word-level inline diffs per clause, the raw diff."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from compliance.policies.models import PolicyClause, PolicyVersion

_TOKEN_RE = re.compile(r"\s+|[^\s]+")
SMALL_WORD = 4  # equal runs this short between two changes are shown as part of the change


@dataclass(frozen=True)
class Segment:
    """A run of words in a diff: `equal`, `delete` (old only) or `insert` (new only)."""

    op: str
    text: str


def inline_diff(old: str, new: str) -> list[Segment]:
    """A word-level diff of two texts, for the two-colour inline view."""
    a, b = _TOKEN_RE.findall(old or ""), _TOKEN_RE.findall(new or "")
    segments: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    opcodes = matcher.get_opcodes()
    removed: list[str] = []
    added: list[str] = []

    def flush_change() -> None:
        if removed:
            segments.append(Segment("delete", "".join(removed)))
        if added:
            segments.append(Segment("insert", "".join(added)))
        removed.clear()
        added.clear()

    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = "".join(a[i1:i2])
            between_changes = 0 < index < len(opcodes) - 1
            if between_changes and len(same.strip()) <= SMALL_WORD:
                # A space or a small word ("or", "to") kept between two changes would split
                # one rewrite into many fragments; readers follow whole phrases better.
                removed.append(same)
                added.append(same)
                continue
            flush_change()
            segments.append(Segment("equal", same))
            continue
        removed.extend(a[i1:i2])
        added.extend(b[j1:j2])
    flush_change()
    return segments


@dataclass(frozen=True)
class ClauseChange:
    """How one clause number differs between two versions."""

    number: str
    status: str  # added, removed, changed, unchanged
    old: PolicyClause | None
    new: PolicyClause | None
    heading_segments: tuple[Segment, ...]
    text_segments: tuple[Segment, ...]


def _number_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def clause_change(number: str, old: PolicyClause | None, new: PolicyClause | None) -> ClauseChange:
    old_heading, new_heading = (old.heading if old else ""), (new.heading if new else "")
    old_text, new_text = (old.text if old else ""), (new.text if new else "")
    if old is None:
        status = "added"
    elif new is None:
        status = "removed"
    elif (old_heading, old_text) == (new_heading, new_text):
        status = "unchanged"
    else:
        status = "changed"
    return ClauseChange(
        number=number,
        status=status,
        old=old,
        new=new,
        heading_segments=tuple(inline_diff(old_heading, new_heading)),
        text_segments=tuple(inline_diff(old_text, new_text)),
    )


def version_diff(old: PolicyVersion, new: PolicyVersion) -> list[ClauseChange]:
    """Every clause number of either version, in clause order, with what changed."""
    numbers = {c.number for c in old.clauses} | {c.number for c in new.clauses}
    numbers = sorted(numbers, key=_number_key)
    return [clause_change(n, old.clause(n), new.clause(n)) for n in numbers]


def unified_text_diff(old: PolicyVersion, new: PolicyVersion) -> str:
    """The whole files as a unified diff (for people who prefer the raw view)."""
    return "".join(
        difflib.unified_diff(
            old.full_text.splitlines(keepends=True),
            new.full_text.splitlines(keepends=True),
            fromfile=f"{old.document.key}@{old.version}",
            tofile=f"{new.document.key}@{new.version}",
        )
    )
