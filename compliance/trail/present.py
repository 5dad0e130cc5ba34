"""Audit events for people: each change rendered by its type, the raw record one click away.

The one renderer behind the case's Audit tab, the Audit trail page and the regulator's PDF
report. It reads an event's hashed record (a dict: the payload) and returns HTML fragments:
times to the second in UTC, yes/no for booleans, an em dash for nothing, lists and objects as
key/value lines, long text as a word diff, and ids of people and cases as names and links.
What was hashed stays available verbatim (`PresentedEvent.raw`) for the expert.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select

from compliance.extensions import db

EMPTY = Markup('<span class="empty" title="empty">—</span>')
LONG_LIST = 5  # entries: a longer list of objects is counted and folded
LONG_TEXT = 100  # characters: longer text that changed is shown as a word diff
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_USER_ID_FIELDS = re.compile(
    r"^(owner|user|assignee|assigned_to|reviewer|signatory|requested_by_user|"
    r"approver|created_by_user|custodian|certified_by_user|counsel)(_user)?_id$"
)
_CASE_ID_FIELDS = re.compile(r"^(case|duplicate_of|merged_into|source_case|target_case|into)_id$")
_CASE_REF_FIELDS = re.compile(r"^(case_ref|merged_into|source|target|into|duplicate_of)(_ref)?$")
_REF_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*-\d{4}-\d{4,}$")


def format_stamp(value: Any) -> str:
    """A time as people read it in the trail: UTC to the second, no microseconds."""
    if isinstance(value, str):
        parsed = parse_time(value)
        if parsed is None:
            return value
        value = parsed
    if not isinstance(value, datetime):
        return "—" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_time(text: str) -> datetime | None:
    if not _ISO_TIME.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class People:
    """Names behind the ids and actor labels of a page of events, looked up in two queries."""

    by_id: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, label)
    by_label: dict[str, str] = field(default_factory=dict)  # user:<email> -> name
    cases: dict[int, str] = field(default_factory=dict)  # case id -> ref

    @classmethod
    def for_records(cls, records: Iterable[dict[str, Any]]) -> People:
        from compliance.auth.models import User
        from compliance.cases.models import Case

        user_ids: set[int] = set()
        emails: set[str] = set()
        case_ids: set[int] = set()
        for record in records:
            _collect(record.get("actor"), emails)
            for section in (record.get("changes") or {}, record.get("details") or {}):
                for key, value in section.items():
                    values = (
                        (value.get("before"), value.get("after")) if _is_change(value) else (value,)
                    )
                    for one in values:
                        if _USER_ID_FIELDS.match(key) and _int(one) is not None:
                            user_ids.add(_int(one))
                        elif _CASE_ID_FIELDS.match(key) and _int(one) is not None:
                            case_ids.add(_int(one))
                        else:
                            _collect(one, emails)
        # Always the same two queries, whatever the page holds: a page's cost stays flat.
        people = cls()
        rows = db.session.execute(
            select(User.id, User.name, User.email).where(
                User.id.in_(user_ids) | User.email.in_(emails)
            )
        )
        for id_, name, email in rows:
            people.by_id[id_] = (name or email, f"user:{email}")
            people.by_label[f"user:{email}"] = name or email
        people.cases = dict(
            db.session.execute(select(Case.id, Case.ref).where(Case.id.in_(case_ids))).all()
        )
        return people


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _is_change(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"before", "after"}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _collect(value: Any, emails: set[str]) -> None:
    """Actor labels (`user:<email>`) anywhere in a value, to be shown as names."""
    if isinstance(value, str) and value.startswith("user:"):
        emails.add(value.removeprefix("user:"))
    elif isinstance(value, list):
        for one in value:
            _collect(one, emails)
    elif isinstance(value, dict):
        for one in value.values():
            _collect(one, emails)


@dataclass
class Line:
    """One field of a change or of the details: its label and its rendered value(s)."""

    label: str
    before: Markup | None  # None for details (a value, not a change)
    after: Markup


@dataclass
class PresentedEvent:
    seq: int
    when: str
    actor: Markup
    action: str
    object: str
    case_ref: str | None
    changes: list[Line]
    details: list[Line]
    raw: str  # the hashed canonical JSON, verbatim
    hash: str | None = None


class Presenter:
    """Renders events; `link` builds URLs (None in the PDF, where names stand alone)."""

    def __init__(self, people: People, link: Callable[..., str | None] | None = None) -> None:
        self.people = people
        self.link = link

    # -- people and cases ---------------------------------------------------------------
    def actor(self, label: Any) -> Markup:
        if not isinstance(label, str):
            return self.value(label)
        name = self.people.by_label.get(label)
        if name is None:
            kind, _, who = label.partition(":")
            text = {"cli": f"{who} (command line)", "system": f"scheduler: {who}"}.get(kind)
            text = text or (f"API token {who}" if kind == "token" else label)
            return Markup('<span title="{}">{}</span>').format(label, text)
        href = self.link("audit.index", actor=label) if self.link is not None else None
        if href is not None:
            return Markup('<a href="{}" title="{}">{}</a>').format(href, label, name)
        return Markup("{}").format(name)

    def user(self, user_id: int) -> Markup:
        found = self.people.by_id.get(user_id)
        if found is None:
            return Markup("user #{}").format(user_id)
        name, label = found
        if self.link is not None:
            return Markup('<a href="{}" title="{}">{}</a>').format(
                self.link("cases.index", owner=user_id), label, name
            )
        return Markup("{}").format(name)

    def case(self, ref: str) -> Markup:
        if self.link is not None:
            return Markup('<a href="{}">{}</a>').format(self.link("cases.view", ref=ref), ref)
        return Markup("{}").format(ref)

    # -- values -------------------------------------------------------------------------
    def field_value(self, key: str, value: Any) -> Markup:
        """A value, knowing its field's name (ids of people and cases become names)."""
        number = _int(value)
        if number is not None and _USER_ID_FIELDS.match(key):
            return self.user(number)
        if number is not None and _CASE_ID_FIELDS.match(key):
            ref = self.people.cases.get(number)
            return self.case(ref) if ref else Markup("case #{}").format(number)
        if isinstance(value, str) and _CASE_REF_FIELDS.match(key) and _REF_SHAPE.match(value):
            return self.case(value)
        return self.value(value)

    def value(self, value: Any) -> Markup:
        if _empty(value):
            return EMPTY
        if isinstance(value, bool):
            return Markup("yes") if value else Markup("no")
        if isinstance(value, int | float):
            return Markup("{}").format(f"{value:,}" if abs(value) >= 10_000 else value)
        if isinstance(value, str):
            if value.startswith("user:") and value in self.people.by_label:
                return self.actor(value)
            parsed = parse_time(value)
            if parsed is not None:
                return Markup('<time datetime="{}">{}</time>').format(
                    parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), format_stamp(parsed)
                )
            return Markup("{}").format(value)
        if isinstance(value, list):
            scalars = all(not isinstance(one, dict | list) for one in value)
            limit = LONG_LIST * 4 if scalars else LONG_LIST
            # A batch of a hundred findings: counted, the first few shown, all in the raw
            # record (rendering every entry cost seconds on a campaign case's tab).
            shown = [self.value(one) for one in value[:limit]]
            if scalars:
                html = Markup(", ").join(shown)
            else:
                html = Markup('<ol class="kv-list">{}</ol>').format(
                    Markup("").join(Markup("<li>{}</li>").format(one) for one in shown)
                )
            if len(value) <= limit:
                return html
            return Markup(
                '<details class="long-list"><summary>{} entries</summary>{}'
                '<p class="muted">… and {} more in the raw record.</p></details>'
            ).format(f"{len(value):,}", html, f"{len(value) - limit:,}")
        if isinstance(value, dict):
            return Markup('<dl class="kv">{}</dl>').format(
                Markup("").join(
                    Markup("<dt>{}</dt><dd>{}</dd>").format(
                        label_of(key), self.field_value(key, one)
                    )
                    for key, one in value.items()
                )
            )
        return Markup("{}").format(str(value))

    def change(self, key: str, before: Any, after: Any) -> Line:
        if (
            isinstance(before, str)
            and isinstance(after, str)
            and max(len(before), len(after)) > LONG_TEXT
            and parse_time(before) is None
        ):
            return Line(label_of(key), None, word_diff(before, after))
        return Line(label_of(key), self.field_value(key, before), self.field_value(key, after))

    def event(self, record: dict[str, Any], raw: str, hash_: str | None = None) -> PresentedEvent:
        changes = []
        for key, change in (record.get("changes") or {}).items():
            if _is_change(change):
                if _empty(change["before"]) and _empty(change["after"]):
                    continue  # nothing to nothing (None to []): not a change a person sees
                changes.append(self.change(key, change["before"], change["after"]))
            else:  # not a before/after pair: shown as the value it is
                changes.append(Line(label_of(key), None, self.field_value(key, change)))
        details = [
            Line(label_of(key), None, self.field_value(key, value))
            for key, value in (record.get("details") or {}).items()
        ]
        object_text = (record.get("object_type") or "").replace("_", " ")
        if record.get("object_id"):
            object_text += f" #{record['object_id']}"
        return PresentedEvent(
            seq=record.get("seq"),
            when=format_stamp(record.get("occurred_at")),
            actor=self.actor(record.get("actor")),
            action=record.get("action") or "",
            object=object_text,
            case_ref=record.get("case_ref"),
            changes=changes,
            details=details,
            raw=raw,
            hash=hash_,
        )


def label_of(key: str) -> str:
    """A field name as a label: `owner_id` -> `owner`, `legal_hold` -> `legal hold`."""
    if _USER_ID_FIELDS.match(key) or _CASE_ID_FIELDS.match(key):
        key = key.removesuffix("_id")
    return key.replace("_", " ")


def word_diff(before: str, after: str) -> Markup:
    """Long text as one passage with the removed words struck and the added words marked."""
    old, new = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    parts = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(old[a1:a2])))
            continue
        if a2 > a1:
            parts.append(Markup("<del>{}</del>").format("".join(old[a1:a2])))
        if b2 > b1:
            parts.append(Markup("<ins>{}</ins>").format("".join(new[b1:b2])))
    return Markup('<div class="text-diff">{}</div>').format(Markup("").join(parts))


def present_events(
    events: Iterable[Any], link: Callable[..., str | None] | None = None
) -> list[Any]:
    """AuditEvent rows or exported records (dicts with `hash`) as PresentedEvents."""
    from compliance.audit.verify_export import canonical_bytes

    pairs: list[tuple[dict[str, Any], str, str | None]] = []
    for event in events:
        if isinstance(event, dict):
            pairs.append((event, canonical_bytes(event).decode(), event.get("hash")))
        else:
            pairs.append((event.record, event.payload, event.hash))
    people = People.for_records(record for record, _, _ in pairs)
    presenter = Presenter(people, link)
    return [presenter.event(record, raw, hash_) for record, raw, hash_ in pairs]
