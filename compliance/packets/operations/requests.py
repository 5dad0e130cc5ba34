"""Asking for a packet: the preview of a composition, the final build from a preview, a retry;
and which packets a case has.

A request only queues: the worker (`compliance.packets.tasks`) builds what is queued.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import can, require_permission
from compliance.cases.approval import approval_drift
from compliance.cases.models import Case
from compliance.errors import InvalidInput, NotFound, PermissionDenied, WorkflowRefused
from compliance.extensions import db
from compliance.packets import binding
from compliance.packets import context as ctx
from compliance.packets.composition import Composition, required_for_final
from compliance.packets.composition import parse as parse_composition
from compliance.packets.models import EXTERNAL_TYPES, PACKET_TYPES, Packet
from compliance.packets.operations.addressing import _addressed
from compliance.packets.operations.gathering import gather_for
from compliance.packets.operations.signatories import _custodian, signatory_profile

FINAL_STATES = ("approved", "action_taken", "monitoring", "closed")


def get_packet(packet_id: int, case: Case | None = None) -> Packet:
    packet = db.session.get(Packet, packet_id)
    if packet is None or (case is not None and packet.case_id != case.id):
        raise NotFound(f"no packet {packet_id}" + (f" in {case.ref}" if case else ""))
    return packet


def may_read(packet: Packet, actor: Actor) -> bool:
    """A privileged memo is for those who read privileged notes (counsel); other types for all."""
    return packet.packet_type != "memo" or can(actor, "note.privileged")


def packets_for_case(case: Case, actor: Actor) -> list[Packet]:
    """The case's packets `actor` may see, newest first."""
    packets = db.session.scalars(
        select(Packet).where(Packet.case_id == case.id).order_by(Packet.id.desc())
    )
    return [p for p in packets if may_read(p, actor)]


def sent_packet_types(case: Case) -> set[str]:
    """Types of final packets of this case that are stored and marked sent (workflow guard)."""
    return set(
        db.session.scalars(
            select(Packet.packet_type).where(
                Packet.case_id == case.id,
                Packet.draft.is_(False),
                Packet.status == "stored",
                Packet.sent_on.is_not(None),
            )
        )
    )


def _check_choices(case: Case, packet_type: str, composition: Composition, actor: Actor) -> None:
    """Refuse a composition that names what the packet may not carry (drafts included)."""
    errors: dict[str, str] = {}
    if packet_type != "takedown" and composition.basis:
        errors["basis"] = "only a takedown notice has a legal basis to choose"
    if composition.custodian:
        profile = _custodian(composition)
        if profile is None:
            errors["custodian"] = (
                f"{composition.custodian} has no signatory profile as a records custodian"
            )
        elif actor.user_id is not None and profile.user_id == actor.user_id:
            errors["custodian"] = (
                "counsel who signs the packet does not also certify its records "
                "(advocate-witness rule): name a records custodian"
            )
    if errors:
        raise InvalidInput("some packet fields are not valid", details=errors)
    g = gather_for(case, packet_type, composition, draft=True, with_bytes=False)
    chosen = ctx.selected_evidence(g)  # refuses a restricted or unknown exhibit
    if composition.basis == "copyright" and not any(e.kind == "canary_hit" for e in chosen):
        raise InvalidInput(
            "some packet fields are not valid",
            details={
                "basis": "a copyright notice needs evidence that our work was reproduced "
                "(a canary hit among the exhibits); use the terms-of-service basis otherwise"
            },
        )
    ctx.chronology(g, ())  # refuses an internal entry that is not a step of this case


def request_packet(
    case: Case,
    packet_type: str,
    actor: Actor,
    *,
    draft: bool = True,
    fields: dict[str, Any] | None = None,
    retry_of: Packet | None = None,
) -> Packet:
    """Queue a draft: the preview of a composition, watermarked, with no Bates numbers.

    A final takedown or referral is never requested directly: it is built from a preview
    (`request_final`), so that what counsel saw is what leaves.
    """
    require_permission(actor, "packet.build")
    if packet_type not in PACKET_TYPES:
        raise InvalidInput(f"unknown packet type {packet_type!r}: one of {', '.join(PACKET_TYPES)}")
    if not draft:
        raise WorkflowRefused(
            "a final packet is built from a preview: compose the packet, build its preview "
            "(a draft), then build the final packet from that preview"
        )
    composition = _addressed(parse_composition(fields))
    _check_choices(case, packet_type, composition, actor)
    packet = Packet(
        case=case,
        packet_type=packet_type,
        draft=True,
        status="queued",
        request_fields=composition.stored(),
        template_version=ctx.TEMPLATE_VERSION,
        bates_prefix=None,
        requested_by=actor.label,
        requested_by_name=actor.name or actor.label,
    )
    db.session.add(packet)
    db.session.flush()
    record(
        "packet.requested",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=case,
        details={
            "type": packet_type,
            "draft": True,
            "composition": composition.stored(),
            **({"retry_of": retry_of.id} if retry_of else {}),
        },
    )
    return packet


def check_final(preview: Packet, actor: Actor) -> None:
    """Refuse, saying why, unless a final build from `preview` by `actor` is allowed now."""
    require_permission(actor, "packet.build")
    case = preview.case
    if actor.is_operator:
        raise PermissionDenied(
            "a final packet is signed by a named person: build it as a counsel user "
            "(--as EMAIL); the operator may build drafts only"
        )
    if not preview.draft or preview.status != "stored":
        raise WorkflowRefused(f"packet {preview.id} is not a stored preview (draft)")
    if preview.requested_by != actor.label:
        raise WorkflowRefused(
            f"preview {preview.id} was composed by {preview.requested_by_name}, who would sign "
            "it: the signatory builds the final packet from their own preview"
        )
    outgoing = preview.packet_type in EXTERNAL_TYPES  # a final memo stays in the file
    if outgoing and case.state not in FINAL_STATES:
        raise WorkflowRefused(
            f"{case.ref} is {case.state}: a final {preview.packet_type} needs the case approved "
            "(preview drafts meanwhile)"
        )
    if outgoing and preview.packet_type not in (case.chosen_actions or []):
        raise WorkflowRefused(
            f"{preview.packet_type} was not among the actions approved for {case.ref} "
            f"({', '.join(case.chosen_actions or []) or 'none'})"
        )
    # A change since the approval sends an approved case back to legal review as it happens;
    # checked here too, so a final build never outruns that (after action taken, the approval
    # has been acted on and new evidence does not undo it).
    drift = approval_drift(case) if outgoing and case.state == "approved" else []
    if drift:
        raise WorkflowRefused(
            f"{case.ref} changed since it was approved: counsel approves what leaves",
            details={"changes": [change["what"] for change in drift]},
        )
    profile = signatory_profile(actor.user_id)
    if profile is None:
        raise WorkflowRefused(
            "set up your signatory profile (name, title, organisation, address, phone, e-mail) "
            "before signing a final packet"
        )
    composition = parse_composition(preview.request_fields)
    missing = required_for_final(preview.packet_type, composition)
    if missing:
        raise InvalidInput("the composition is not complete for a final packet", details=missing)
    if preview.packet_type == "referral" and _custodian(composition) is None:
        raise InvalidInput(
            "the composition is not complete for a final packet",
            details={"custodian": f"{composition.custodian} is not a records custodian"},
        )
    g = gather_for(case, preview.packet_type, composition, draft=False, requested_by=actor)
    now = binding.inputs_of(ctx.build_document(g))
    if binding.digest(now) != preview.inputs_sha256:
        raise WorkflowRefused(
            f"the packet's inputs changed since preview {preview.id} was built: build a new "
            "preview and check it",
            details={"changes": binding.changes(preview.inputs or {}, now)},
        )


def request_final(preview: Packet, actor: Actor, *, retry_of: Packet | None = None) -> Packet:
    """Queue the final build of a preview's composition, bound to the preview's inputs."""
    check_final(preview, actor)
    composition = parse_composition(preview.request_fields)
    packet = Packet(
        case=preview.case,
        packet_type=preview.packet_type,
        draft=False,
        status="queued",
        request_fields=preview.request_fields,
        preview_id=preview.id,
        template_version=ctx.TEMPLATE_VERSION,
        bates_prefix=current_app.config["BATES_PREFIX"],
        requested_by=actor.label,
        requested_by_name=actor.name or actor.label,
    )
    db.session.add(packet)
    db.session.flush()
    amber = [
        e["key"]
        for e in (preview.inputs or {}).get("exhibits", [])
        if "TLP:AMBER" in e.get("source", "")
    ]
    record(
        "packet.requested",
        actor=actor,
        object_type="packet",
        object_id=packet.id,
        case=preview.case,
        details={
            "type": packet.packet_type,
            "draft": False,
            "preview_id": preview.id,
            "inputs_sha256": preview.inputs_sha256,
            "recipient": composition.recipient,
            # TLP:AMBER partner material goes out on counsel's word that the recipient is
            # inside the sharing community: that word is recorded here.
            "recipient_in_community": composition.recipient_in_community,
            "amber_exhibits": amber,
            **({"retry_of": retry_of.id} if retry_of else {}),
        },
    )
    return packet


def retry_packet(failed: Packet, actor: Actor) -> Packet:
    """Request a failed build again: a new packet of the same composition (a failed final is
    retried from its preview, under the same checks as any final build)."""
    require_permission(actor, "packet.build")
    if failed.status != "failed":
        raise WorkflowRefused(
            f"packet {failed.id} did not fail ({failed.status}): nothing to retry"
        )
    if failed.draft:
        return request_packet(
            failed.case, failed.packet_type, actor, fields=failed.request_fields, retry_of=failed
        )
    if failed.preview_id is None:
        raise WorkflowRefused(f"packet {failed.id} has no preview to build it from again")
    return request_final(get_packet(failed.preview_id, failed.case), actor, retry_of=failed)
