"""The identifiers of the material a notice targets (URLs, repositories, model names, file
SHA-256s), normalised so that the re-upload watch (`compliance.notices.watch`) matches them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.notices.models import IDENTIFIER_KINDS, Notice, NoticeIdentifier
from compliance.notices.operations.events import _event
from compliance.packets.models import Packet

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def normalise_identifier(kind: str, value: str) -> str:
    """One spelling per identifier so a re-upload matches: case, spacing and a trailing slash
    do not make a different one. Raises InvalidInput for a kind or value that cannot be."""
    if kind not in IDENTIFIER_KINDS:
        raise InvalidInput(
            "unknown identifier kind", details={"kind": "one of " + ", ".join(IDENTIFIER_KINDS)}
        )
    text = " ".join((value or "").split())
    if kind in ("url", "repository"):
        text = text.rstrip("/")
    text = text.casefold()
    if not text:
        raise InvalidInput("an identifier needs a value", details={"value": "empty"})
    if len(text) > 500:
        raise InvalidInput("identifier too long", details={"value": "at most 500 characters"})
    if kind == "file_sha256" and not _SHA256.match(text):
        raise InvalidInput(
            "not a SHA-256", details={"value": f"{text[:80]!r} is not 64 hexadecimal digits"}
        )
    if kind == "url" and not text.startswith(("https://", "http://")):
        raise InvalidInput("not a URL", details={"value": f"{text[:80]!r} is not a web address"})
    return text


def _model_name(repository: str) -> str | None:
    """`owner/name` of a model repository: https://host/owner/name[/...], host/owner/name or
    owner/name."""
    if "://" in repository:
        segments = [s for s in urlsplit(repository).path.split("/") if s]
    else:
        segments = [s for s in repository.split("/") if s]
        if segments and "." in segments[0]:  # a host name first
            segments = segments[1:]
    if len(segments) >= 2:
        return f"{segments[0]}/{segments[1]}"
    return None


def identifiers_from_packet(packet: Packet | None) -> list[tuple[str, str]]:
    """What the packet's composition names as the targeted material, as (kind, value) pairs."""
    if packet is None:
        return []
    stored = packet.request_fields or {}
    found: list[tuple[str, str]] = []
    for url in stored.get("offending_urls") or []:
        found.append(("url", url))
    repository = (stored.get("repository") or "").strip()
    if repository:
        found.append(("repository", repository))
        if model := _model_name(repository):
            found.append(("model_name", model))
    for name in stored.get("files") or []:
        if _SHA256.match(name.strip().lower()):
            found.append(("file_sha256", name))
    return distinct_identifiers(found)


def distinct_identifiers(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, value) pairs normalised, in first-seen order, without repeats; a value that is
    not a valid identifier of its kind is left out (found text, not user input)."""
    pairs: list[tuple[str, str]] = []
    for kind, value in found:
        try:
            pair = (kind, normalise_identifier(kind, value))
        except InvalidInput:
            continue
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def set_identifiers(
    notice: Notice, actor: Actor, pairs: Iterable[tuple[str, str]], note: str = ""
) -> Notice:
    """Replace the identifiers a notice targets (the analyst's edit); audited as added/removed."""
    require_permission(actor, "notice.manage")
    wanted: list[tuple[str, str]] = []
    errors: dict[str, str] = {}
    for index, (kind, value) in enumerate(pairs):
        try:
            pair = (kind, normalise_identifier(kind, value))
        except InvalidInput as error:
            detail = next(iter((error.details or {}).values()), error.message)
            errors[f"identifiers.{index}"] = detail
            continue
        if pair not in wanted:
            wanted.append(pair)
    if errors:
        raise InvalidInput("some identifiers are not valid", details=errors)
    have = {(i.kind, i.value): i for i in notice.identifiers}
    added = [p for p in wanted if p not in have]
    removed = [p for p in have if p not in wanted]
    if not added and not removed:
        return notice
    for pair in removed:
        notice.identifiers.remove(have[pair])
    db.session.flush()  # the unique (notice, kind, value) row may come back in the same call
    for kind, value in added:
        notice.identifiers.append(NoticeIdentifier(kind=kind, value=value, added_by=actor.label))
    summary = f"{len(added)} added, {len(removed)} removed"
    _event(notice, actor, "identifiers", note=(note.strip() or summary))
    db.session.flush()
    record(
        "notice.identifiers_changed",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details={
            "added": [list(p) for p in added],
            "removed": [list(p) for p in removed],
        },
    )
    return notice


def notices_matching(kind: str, value: str) -> list[Notice]:
    """Notices that targeted this identifier (the re-upload watch asks here)."""
    value = normalise_identifier(kind, value)
    return list(
        db.session.scalars(
            select(Notice)
            .join(NoticeIdentifier)
            .where(NoticeIdentifier.kind == kind, NoticeIdentifier.value == value)
            .order_by(Notice.id)
        ).unique()
    )
