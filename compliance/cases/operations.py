"""Business rules for cases: creation, edits, workflow transitions, notes and legal hold.

Operations flush and write their audit event in the caller's transaction; they never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from compliance.actor import Actor
from compliance.audit.chain import (
    READ_WINDOW,
    PendingEvent,
    diff,
    record,
    record_many,
    text_fingerprint,
)
from compliance.auth.models import User
from compliance.auth.permissions import can, require_permission
from compliance.cases import approval
from compliance.cases.models import (
    DOMAINS,
    SEVERITIES,
    Case,
    CaseNote,
    CaseNoteRevision,
    CaseRefCounter,
    CaseTransition,
)
from compliance.cases.workflow import TransitionRequest, find_transition
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied, WorkflowRefused
from compliance.extensions import db

EDITABLE_FIELDS = (
    "title",
    "summary",
    "severity",
    "confidence",
    "suspected_actor",
    "jurisdiction",
    "owner_id",
    "incident_start",
    "incident_end",
    "estimated_queries",
    "targeted_domains",
)

# Other capabilities register here to react when cases enter a state (reviews reschedule):
# called with one case, or with every case a batch of findings opened.
state_entered_hooks: list[Callable[[list[Case], Actor], None]] = []


def get_case(ref: str) -> Case:
    case = db.session.scalar(select(Case).where(Case.ref == ref))
    if case is None:
        raise NotFound(f"no case {ref}")
    return case


def next_case_refs(prefix: str, count: int, now: datetime | None = None) -> list[str]:
    """Issue the next `count` references for this year (DIST-2026-0042) in one counter update,
    safe under concurrent writers."""
    year = (now or utcnow()).year
    last = db.session.scalar(
        update(CaseRefCounter)
        .where(CaseRefCounter.year == year)
        .values(last_number=CaseRefCounter.last_number + count)
        .returning(CaseRefCounter.last_number)
    )
    if last is None:
        with db.session.begin_nested():
            db.session.add(CaseRefCounter(year=year, last_number=count))
        last = count
    return [f"{prefix}-{year}-{number:04d}" for number in range(last - count + 1, last + 1)]


# The longest text each field takes (the web form, the CLI and the API share these).
MAX_LENGTHS = {"title": 300, "summary": 50_000, "suspected_actor": 300, "jurisdiction": 200}
OWNER_ROLES = ("analyst", "counsel")


def find_owner(email: str | None) -> int | None:
    """The id of the active analyst or counsel with this e-mail (None for "" or None: unassign).

    Scripts name an owner by e-mail; an unknown e-mail is invalid input on the `owner` field.
    """
    from compliance.auth.operations import find_user

    if not (email or "").strip():
        return None
    user = find_user(email)
    if user is None or not user.active or user.role not in OWNER_ROLES:
        raise InvalidInput(
            "some fields are not valid",
            details={"owner": f"no active analyst or counsel {email.strip()}"},
        )
    return user.id


def _check_owner(owner_id: int | None) -> str | None:
    if owner_id is None:
        return None
    user = db.session.get(User, owner_id)
    if user is None or not user.active or user.role not in OWNER_ROLES:
        return "the owner must be an active analyst or counsel"
    return None


def _validate_fields(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean = dict(fields)
    if "title" in clean:
        clean["title"] = (clean["title"] or "").strip()
        if not clean["title"]:
            errors["title"] = "a title is required"
    for name, limit in MAX_LENGTHS.items():
        if len(clean.get(name) or "") > limit and name not in errors:
            errors[name] = f"at most {limit:,} characters"
    if clean.get("owner_id") and (problem := _check_owner(clean["owner_id"])):
        errors["owner_id"] = problem
    if "severity" in clean and clean["severity"] not in SEVERITIES:
        errors["severity"] = "one of " + ", ".join(SEVERITIES)
    confidence = clean.get("confidence")
    if confidence is not None and not 0 <= confidence <= 1:
        errors["confidence"] = "between 0 and 1"
    volume = clean.get("estimated_queries")
    if volume is not None and volume < 0:
        errors["estimated_queries"] = "cannot be negative"
    start, end = clean.get("incident_start"), clean.get("incident_end")
    if start and end and start > end:
        # A rule across two fields names both: either may be the one that is wrong.
        errors["incident_start"] = "the incident cannot end before it starts"
        errors["incident_end"] = "the incident cannot end before it starts"
    unknown = set(clean.get("targeted_domains") or []) - set(DOMAINS)
    if unknown:
        errors["targeted_domains"] = "unknown domain(s): " + ", ".join(sorted(unknown))
    if errors:
        raise InvalidInput("some fields are not valid", details=errors)
    return clean


def create_case(actor: Actor, *, ref_prefix: str = "DIST", **fields: Any) -> Case:
    """Open a case in `reported`."""
    require_permission(actor, "case.create")
    return open_case(actor, ref_prefix=ref_prefix, **fields)


def open_case(actor: Actor, *, ref_prefix: str = "DIST", **fields: Any) -> Case:
    """Open a case in `reported` for a caller that has already decided the actor may.

    Evidence ingestion calls this: a detector's token holds no role, yet its findings open
    cases, and the audit trail must name the token, not a stand-in.
    """
    (case,) = open_cases(actor, [fields], ref_prefix=ref_prefix)
    return case


def open_cases(
    actor: Actor, specs: list[dict[str, Any]], *, ref_prefix: str = "DIST"
) -> list[Case]:
    """Open several cases as `open_case` does, each from its fields, in this order.

    A batch of findings from new campaigns opens tens of cases: one reference update, one
    flush and one audit append for all of them instead of a round of each per case.
    """
    checked = []
    for spec in specs:
        fields = _validate_fields({"title": spec.get("title", ""), **spec})
        unknown = set(fields) - set(EDITABLE_FIELDS)
        if unknown:
            raise InvalidInput("unknown field(s): " + ", ".join(sorted(unknown)))
        checked.append(fields)
    opened = []
    for ref, fields in zip(next_case_refs(ref_prefix, len(checked)), checked, strict=True):
        case = Case(ref=ref, state="reported", created_by=actor.label, **fields)
        case.targeted_domains = list(fields.get("targeted_domains") or [])
        opened.append(case)
    db.session.add_all(opened)
    db.session.flush()
    record_many(
        [
            PendingEvent(
                "case.created",
                object_type="case",
                object_id=case.id,
                case=case,
                changes=diff({}, case.snapshot()),
            )
            for case in opened
        ],
        actor=actor,
    )
    for hook in state_entered_hooks:
        hook(opened, actor)
    return opened


def _check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            f"{case.ref} was changed by someone else while you were editing "
            "(reload the page to see their changes, then apply yours again)"
        )


def update_case(
    case: Case, actor: Actor, fields: dict[str, Any], expected_version: int | None = None
) -> Case:
    """Edit a case's details; a stale version is a conflict, never a silent overwrite.

    The one edit of a case's details: the web form, `compliance case edit` and
    `PATCH /api/v1/cases/<ref>` all call it, so the rules, the version check and the audit
    event are the same whichever way a person edits. Only the fields given change.
    """
    require_permission(actor, "case.edit")
    _check_version(case, expected_version)
    if not case.is_open:
        raise WorkflowRefused(f"{case.ref} is {case.state}: reopen it before editing")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput("unknown field(s): " + ", ".join(sorted(unknown)))
    merged = {k: getattr(case, k) for k in ("incident_start", "incident_end")} | fields
    clean = _validate_fields(merged)
    before = case.snapshot()
    for key in fields:
        setattr(case, key, clean[key])
    changes = diff(before, case.snapshot())
    if not changes:
        return case
    db.session.flush()
    if "owner_id" in changes:
        db.session.expire(case, ["owner"])  # loaded for the old owner: read the new one
    record(
        "case.updated",
        actor=actor,
        object_type="case",
        object_id=case.id,
        case=case,
        changes=changes,
    )
    approval.withdraw_if_changed(case, actor)
    return case


def transition_case(
    case: Case,
    target: str,
    actor: Actor,
    request: TransitionRequest | None = None,
    expected_version: int | None = None,
) -> CaseTransition:
    """Move a case along the workflow, or refuse and say which rule stops it."""
    request = request or TransitionRequest()
    _check_version(case, expected_version)
    transition = find_transition(case.state, target)
    if transition is None:
        raise WorkflowRefused(f"{case.ref} cannot move from {case.state} to {target}")
    if not actor.has_role(*transition.roles):
        allowed = " or ".join(sorted(transition.roles))
        raise PermissionDenied(
            f"only {allowed} may move a case from {case.state} to {target}"
            f" ({actor.role or 'a token'} may not)"
        )
    failures = [m for guard in transition.guards if (m := guard(case, actor, request))]
    if failures:
        raise WorkflowRefused(f"cannot move {case.ref} to {target}: " + "; ".join(failures))

    before = case.snapshot()
    source = case.state
    # What an approval covers, so a later change to any of it is caught (cases.approval).
    covers = approval.approval_content(case) if target == "approved" else None
    case.state = target
    if target == "approved":
        case.chosen_actions = sorted(set(request.actions))
    if target == "closed":
        case.outcome = request.outcome.strip()
    step = CaseTransition(
        case=case,
        from_state=source,
        to_state=target,
        actor=actor.label,
        actor_name=actor.name,
        actor_user_id=actor.user_id,
        reason=(request.reason or "").strip() or None,
    )
    if covers is not None:
        step.covers, step.covers_sha256 = covers, approval.content_digest(covers)
    db.session.add(step)
    for hook in state_entered_hooks:
        hook([case], actor)
    db.session.flush()
    details = {"from": source, "to": target, "reason": step.reason, "transition_id": step.id}
    if step.covers_sha256:
        details["covers_sha256"] = step.covers_sha256
    record(
        "case.transition",
        actor=actor,
        object_type="case",
        object_id=case.id,
        case=case,
        changes=diff(before, case.snapshot()),
        details=details,
    )
    return step


def add_note(case: Case, actor: Actor, body: str, privileged: bool = False) -> CaseNote:
    """Add a Markdown note; privileged (attorney-client) notes are for counsel only."""
    require_permission(actor, "note.add")
    if privileged:
        require_permission(actor, "note.privileged")
    body = (body or "").strip()
    if not body:
        raise InvalidInput("the note is empty", details={"body": "write something"})
    note = CaseNote(
        case=case, author_id=actor.user_id, author=actor.label, body=body, privileged=privileged
    )
    db.session.add(note)
    db.session.flush()
    record(
        "note.added",
        actor=actor,
        object_type="note",
        object_id=note.id,
        case=case,
        details={"privileged": privileged, "text": text_fingerprint(body)},
    )
    return note


def edit_note(
    note: CaseNote, actor: Actor, body: str, expected_version: int | None = None
) -> CaseNote:
    """Change a note's text; the previous text is kept as a revision."""
    require_permission(actor, "note.add")
    if note.privileged:
        require_permission(actor, "note.privileged")
    if note.author != actor.label and not actor.has_role("counsel"):
        raise PermissionDenied("only the author or counsel may edit a note")
    if expected_version is not None and expected_version != note.version:
        raise Conflict("the note was edited by someone else meanwhile; reload and try again")
    body = (body or "").strip()
    if not body:
        raise InvalidInput("the note is empty", details={"body": "write something"})
    if body == note.body:
        return note
    db.session.add(CaseNoteRevision(note=note, body=note.body, edited_by=actor.label))
    before = text_fingerprint(note.body)
    note.body = body
    note.updated_at = utcnow()
    db.session.flush()
    record(
        "note.edited",
        actor=actor,
        object_type="note",
        object_id=note.id,
        case=note.case,
        changes={"text": {"before": before, "after": text_fingerprint(body)}},
        details={"privileged": note.privileged},
    )
    return note


def visible_notes(case: Case, actor: Actor) -> list[CaseNote]:
    """Notes this actor may read: privileged ones only for counsel."""
    show_privileged = can(actor, "note.privileged")
    return [n for n in case.notes if show_privileged or not n.privileged]


def record_privileged_view(case: Case, actor: Actor, notes: list[CaseNote]) -> None:
    """Reading privileged notes is itself recorded (who saw privileged material, when)."""
    ids = [n.id for n in notes if n.privileged]
    if ids and not _viewed_recently(case, actor, ids):
        record(
            "note.privileged_viewed",
            actor=actor,
            object_type="case",
            object_id=case.id,
            case=case,
            details={"note_ids": ids},
        )


def _viewed_recently(case: Case, actor: Actor, note_ids: list[int]) -> bool:
    """This person's view of these very notes is already recorded within the read window
    (a reloaded tab is one event; a new privileged note is recorded when first seen)."""
    from compliance.audit.models import AuditEvent

    last = db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "case",
            AuditEvent.object_id == str(case.id),
            AuditEvent.action == "note.privileged_viewed",
            AuditEvent.actor == actor.label,
            AuditEvent.occurred_at >= utcnow() - READ_WINDOW,
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    return last is not None and set(note_ids) <= set((last.details or {}).get("note_ids", []))


def place_hold(case: Case, actor: Actor, reason: str) -> Case:
    """Put the case under legal hold: its records may not be deleted until released."""
    require_permission(actor, "hold.manage")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a legal hold needs a reason", details={"reason": "required"})
    if case.legal_hold:
        raise Conflict(f"{case.ref} is already under legal hold")
    before = case.snapshot()
    case.legal_hold, case.legal_hold_reason = True, reason
    db.session.flush()
    record(
        "hold.placed",
        actor=actor,
        object_type="case",
        object_id=case.id,
        case=case,
        changes=diff(before, case.snapshot()),
        details={"reason": reason},
    )
    return case


def release_hold(case: Case, actor: Actor, reason: str) -> Case:
    """Release the legal hold, recording why."""
    require_permission(actor, "hold.manage")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("releasing a hold needs a reason", details={"reason": "required"})
    if not case.legal_hold:
        raise Conflict(f"{case.ref} is not under legal hold")
    before = case.snapshot()
    case.legal_hold, case.legal_hold_reason = False, None
    db.session.flush()
    record(
        "hold.released",
        actor=actor,
        object_type="case",
        object_id=case.id,
        case=case,
        changes=diff(before, case.snapshot()),
        details={"reason": reason},
    )
    return case
