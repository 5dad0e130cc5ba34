"""The re-upload watch: material an earlier notice had removed, seen again.

Each notice keeps the identifiers of the material it targeted (URLs, repositories, file
SHA-256s, model names; normalised, `notices.operations.normalise_identifier`). When a new
finding arrives (the ingest calls `watch_new_findings`; compliance.hooks connects it) or an analyst
enters an identifier (`check_identifier`: the notice page's form, `compliance notice
check-identifier`), every match against a notice whose material was taken down is flagged as
a repeat: a `RepeatFlag` linking the earlier notice, audited on its case (and on the case the
new finding went to), shown on both, with a follow-up notice offered that cites the earlier one.

"Taken down" means removed or disabled (resolved with that outcome), or under a counter-notice
or a suit (the material is down while they run). Restored material coming back is not a repeat.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.cases.models import Case
from compliance.db import utcnow
from compliance.errors import InvalidInput, NotFound, WorkflowRefused
from compliance.evidence.models import EvidenceItem, Finding
from compliance.extensions import db
from compliance.notices.models import IDENTIFIER_KINDS, Notice, NoticeIdentifier
from compliance.notices.operations import distinct_identifiers, normalise_identifier
from compliance.notices.tracking import REPEAT_STATUSES, RepeatFlag
from compliance.reviews.models import Notification, OutboxEmail

log = logging.getLogger(__name__)

TAKEN_DOWN_OUTCOMES = ("removed", "disabled")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_MODEL = re.compile(r"^[\w.-]+/[\w.-]+$")
_MAX_DEPTH = 6  # how deep the watch looks into a finding's metrics


def taken_down() -> Any:
    """SQL condition: the notice's material is down (the watch's candidates)."""
    return or_(
        Notice.state.in_(("counter_notice_received", "suit_filed")),
        and_(Notice.state == "resolved", Notice.outcome.in_(TAKEN_DOWN_OUTCOMES)),
    )


# ---------------------------------------------------------------- what a finding names
def _scan(value: Any, key: str, found: list[tuple[str, str]], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _scan(v, str(k).lower(), found, depth + 1)
    elif isinstance(value, list):
        for v in value[:200]:
            _scan(v, key, found, depth + 1)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower().startswith(("https://", "http://")):
            # A repository is recorded by its address: the same text may be either.
            found += [("url", text), ("repository", text)]
        elif _SHA256.match(text):
            found.append(("file_sha256", text))
        elif "repo" in key and text:
            found.append(("repository", text))
        elif "model" in key and _MODEL.match(text):
            found.append(("model_name", text))


def identifiers_in(metrics: Any, file_sha256s: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The (kind, normalised value) pairs a finding names: in its metrics (URLs, repositories,
    SHA-256s, `owner/name` model names under a key about a model) and its attached files."""
    found: list[tuple[str, str]] = []
    _scan(metrics or {}, "", found, 0)
    found += [("file_sha256", sha) for sha in file_sha256s]
    return distinct_identifiers(found)


def matching_notices(pairs: list[tuple[str, str]]) -> list[tuple[Notice, str, str]]:
    """(notice, kind, value) for each taken-down notice that targeted one of `pairs`."""
    if not pairs:
        return []
    rows = db.session.execute(
        select(Notice, NoticeIdentifier.kind, NoticeIdentifier.value)
        .join(NoticeIdentifier, NoticeIdentifier.notice_id == Notice.id)
        .where(
            or_(*[and_(NoticeIdentifier.kind == k, NoticeIdentifier.value == v) for k, v in pairs]),
            taken_down(),
        )
        .order_by(Notice.id, NoticeIdentifier.id)
    )
    return [(notice, kind, value) for notice, kind, value in rows]


# ---------------------------------------------------------------- flagging a repeat
def _notify_owner(flag: RepeatFlag, now: Any) -> list[int]:
    notice = flag.notice
    owner = notice.owner if notice.owner is not None and notice.owner.active else None
    if owner is None:
        return []
    seen = f" (case {flag.seen_case.ref})" if flag.seen_case is not None else ""
    title = f"Re-upload: material of notice {notice.our_reference} seen again"
    body = (
        f"{IDENTIFIER_KINDS[flag.kind]} {flag.value} — taken down after notice "
        f"{notice.our_reference} to {notice.recipient_name} — was seen again{seen}. "
        "A follow-up notice citing the earlier one is offered on the notice's page."
    )
    link = f"/notices/{notice.id}"
    notification = Notification(
        recipient_id=owner.id,
        kind="notice_repeat",
        subject_type="notice_repeat",
        subject_id=flag.id,
        due_at=now,
        case_ref=notice.case.ref,
        title=title[:300],
        body=body,
        link=link,
        created_at=now,
    )
    db.session.add(notification)
    db.session.flush()
    db.session.add(
        OutboxEmail(
            notification_id=notification.id,
            recipient=owner.email,
            subject=f"[Compliance] {title}"[:300],
            body=f"{body}\n\nOpen: {current_app.config['PUBLIC_URL'].rstrip('/')}{link}\n",
            created_at=now,
            next_attempt_at=now,
        )
    )
    return [notification.id]


def flag_repeat(
    notice: Notice,
    kind: str,
    value: str,
    actor: Actor,
    *,
    finding: Finding | None = None,
    where_seen: str = "",
) -> RepeatFlag | None:
    """Record that the notice's material came back; None when this sighting is already flagged
    (the same finding, or an analyst's entry while an open flag for it exists)."""
    existing = db.session.scalar(
        select(RepeatFlag).where(
            RepeatFlag.notice_id == notice.id,
            RepeatFlag.kind == kind,
            RepeatFlag.value == value,
            RepeatFlag.finding_id == finding.id
            if finding is not None
            else and_(RepeatFlag.finding_id.is_(None), RepeatFlag.status == "open"),
        )
    )
    if existing is not None:
        return None
    now = utcnow()
    seen_case = finding.case if finding is not None else None
    flag = RepeatFlag(
        notice=notice,
        finding=finding,
        seen_case=seen_case,
        source="finding" if finding is not None else "analyst",
        kind=kind,
        value=value,
        where_seen=where_seen.strip()[:2000],
        flagged_at=now,
        flagged_by=actor.label,
    )
    db.session.add(flag)
    db.session.flush()
    notifications = _notify_owner(flag, now)
    details = {
        "flag_id": flag.id,
        "notice": notice.our_reference,
        "identifier": [kind, value],
        "source": flag.source,
        "finding_id": finding.id if finding is not None else None,
        "seen_on_case": seen_case.ref if seen_case is not None else None,
        "where_seen": flag.where_seen or None,
        "notification_ids": notifications,
    }
    record(
        "notice.repeat_flagged",
        actor=actor,
        object_type="notice",
        object_id=notice.id,
        case=notice.case,
        details=details,
    )
    if seen_case is not None and seen_case.id != notice.case_id:
        record(
            "finding.repeat_of_notice",
            actor=actor,
            object_type="finding",
            object_id=finding.id,
            case=seen_case,
            details=details | {"notice_case": notice.case.ref},
        )
    return flag


def watch_new_findings(finding_ids: list[int], actor: Actor) -> list[RepeatFlag]:
    """The ingest hook: flag every new finding naming material an earlier notice took down.

    Runs inside the ingest's transaction, in a savepoint: a failure here is logged and costs
    the flags, never the evidence.
    """
    if not finding_ids or not db.session.scalar(
        select(NoticeIdentifier.id).join(Notice).where(taken_down()).limit(1)
    ):
        return []  # nothing was ever taken down: the common case costs one query
    flags: list[RepeatFlag] = []
    try:
        with db.session.begin_nested():
            shas: dict[int, list[str]] = {}
            for finding_id, sha in db.session.execute(
                select(EvidenceItem.finding_id, EvidenceItem.sha256).where(
                    EvidenceItem.finding_id.in_(finding_ids), EvidenceItem.role == "attachment"
                )
            ):
                shas.setdefault(finding_id, []).append(sha)
            findings = db.session.scalars(
                select(Finding).where(Finding.id.in_(finding_ids)).order_by(Finding.id)
            )
            for finding in findings:
                pairs = identifiers_in(finding.metrics, shas.get(finding.id, []))
                for notice, kind, value in matching_notices(pairs):
                    flag = flag_repeat(notice, kind, value, actor, finding=finding)
                    if flag is not None:
                        flags.append(flag)
    except Exception:  # noqa: BLE001 - the evidence is kept; the watch's failure is logged
        log.exception("re-upload watch failed for findings %s", finding_ids[:20])
        return []
    return flags


# ---------------------------------------------------------------- an analyst's entry
@dataclass
class CheckResult:
    """What an analyst's identifier matched: notices that targeted it, and the flags made."""

    kind: str
    value: str
    notices: list[Notice] = field(default_factory=list)
    flags: list[RepeatFlag] = field(default_factory=list)

    @property
    def repeat(self) -> bool:
        return bool(self.notices)


def check_identifier(actor: Actor, kind: str, value: str, where_seen: str = "") -> CheckResult:
    """Does this identifier name material an earlier notice took down? Flags each match."""
    require_permission(actor, "notice.manage")
    value = normalise_identifier(kind, value)
    pairs = [(kind, value)]
    if kind == "url":  # a repository is recorded by its address
        pairs.append(("repository", value))
    elif kind == "repository" and value.startswith(("https://", "http://")):
        pairs.append(("url", value))
    result = CheckResult(kind, value)
    for notice, matched_kind, matched_value in matching_notices(pairs):
        if notice not in result.notices:
            result.notices.append(notice)
        flag = flag_repeat(notice, matched_kind, matched_value, actor, where_seen=where_seen)
        if flag is not None:
            result.flags.append(flag)
    if not result.notices:
        record(
            "notice.identifier_checked",
            actor=actor,
            object_type="notice_identifier",
            object_id=None,
            details={"identifier": [kind, value], "matches": 0},
        )
    return result


# ---------------------------------------------------------------- after the flag
def get_flag(flag_id: int) -> RepeatFlag:
    flag = db.session.get(RepeatFlag, flag_id)
    if flag is None:
        raise NotFound(f"no re-upload flag {flag_id}")
    return flag


def close_flag(flag: RepeatFlag, actor: Actor, status: str, note: str = "") -> RepeatFlag:
    """A repeat was followed up (a new notice sent) or dismissed (not the same material)."""
    require_permission(actor, "notice.manage")
    if status not in REPEAT_STATUSES or status == "open":
        raise InvalidInput("unknown outcome", details={"status": "followed_up or dismissed"})
    note = (note or "").strip()
    if status == "dismissed" and not note:
        raise InvalidInput("say why", details={"note": "a dismissal needs a reason"})
    if flag.status != "open":
        raise WorkflowRefused(f"re-upload flag {flag.id} is already {flag.status_label.lower()}")
    flag.status, flag.closed_at, flag.closed_by, flag.close_note = (
        status,
        utcnow(),
        actor.label,
        note,
    )
    db.session.flush()
    record(
        f"notice.repeat_{status}",
        actor=actor,
        object_type="notice",
        object_id=flag.notice_id,
        case=flag.notice.case,
        changes={"status": {"before": "open", "after": status}},
        details={"flag_id": flag.id, "identifier": [flag.kind, flag.value], "note": note or None},
    )
    return flag


def flags_for_notice(notice: Notice) -> list[RepeatFlag]:
    return list(
        db.session.scalars(
            select(RepeatFlag).where(RepeatFlag.notice_id == notice.id).order_by(RepeatFlag.id)
        )
    )


def flags_for_case(case: Case) -> list[RepeatFlag]:
    """Repeats of the case's notices, and repeats seen in the case's own findings."""
    return list(
        db.session.scalars(
            select(RepeatFlag)
            .join(Notice, Notice.id == RepeatFlag.notice_id)
            .where(or_(Notice.case_id == case.id, RepeatFlag.seen_case_id == case.id))
            .order_by(RepeatFlag.id.desc())
        )
    )


def follow_up_fields(flag_id: int, case: Case) -> dict[str, Any]:
    """A packet composition prefilled to cite the earlier notice (the follow-up's compose page,
    on the earlier notice's case)."""
    flag = get_flag(flag_id)
    notice = flag.notice
    if notice.case_id != case.id:
        raise NotFound(f"no re-upload flag {flag_id} on {case.ref}")
    stored = dict(notice.packet.request_fields or {}) if notice.packet is not None else {}
    sent = notice.sent_at.astimezone(UTC).date().isoformat()
    ticket = f" (your reference {notice.their_reference})" if notice.their_reference else ""
    outcome = (notice.outcome_label or "taken down").lower()
    citation = (
        f"This notice follows our notice {notice.our_reference} of {sent}{ticket}, after which "
        f"the material was {outcome}. The same material has reappeared: "
        f"{IDENTIFIER_KINDS[flag.kind]} {flag.value}."
    )
    narrative = stored.get("narrative") or ""
    stored["narrative"] = f"{citation}\n\n{narrative}".strip()
    if flag.kind == "url" and flag.value.startswith("https://"):
        urls = [
            u for u in stored.get("offending_urls", []) if u.rstrip("/").casefold() != flag.value
        ]
        stored["offending_urls"] = [flag.value, *urls]
    if notice.recipient_id and "recipient_id" not in stored:
        stored["recipient_id"] = notice.recipient_id
    stored.pop("exhibits", None)  # the follow-up chooses its exhibits afresh
    return stored


__all__ = [
    "CheckResult",
    "check_identifier",
    "close_flag",
    "flag_repeat",
    "flags_for_case",
    "flags_for_notice",
    "follow_up_fields",
    "identifiers_in",
    "matching_notices",
    "taken_down",
    "watch_new_findings",
]
