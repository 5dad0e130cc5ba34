"""A case ready for packets: evidence from a detector, a cited clause, notes, approval."""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from compliance import PROJECT_ROOT
from compliance.extensions import db

PRIVILEGED = "PRIVILEGED-STRATEGY-7731: settle before filing"
CUSTOMER_ACCOUNT = "acct_customer_55aa17"
CUSTOMER_EMAIL_DOMAIN = "jane-roe-consulting.example"
INJECTION = (
    'Summary with **bold**. <img src="file:///etc/passwd"> '
    '<a rel="attachment" href="file:///etc/passwd">passwd</a>'
)
_ids = itertools.count(1)


@dataclass
class Ready:
    case: Any
    counsel: Any
    approver: Any
    analyst: Any
    custodian: Any


def approve(ready: Ready, actions: tuple[str, ...] = ("takedown", "referral")) -> None:
    """investigating -> legal review (the analyst) -> approved (another counsel).

    Evidence added after an approval sends the case back to legal review, so tests that add
    evidence start from `investigating` and approve afterwards.
    """
    from compliance.cases.operations import transition_case
    from compliance.cases.workflow import TransitionRequest

    if ready.case.state != "legal_review":
        transition_case(ready.case, "legal_review", ready.analyst, TransitionRequest(reason="ok"))
    request = TransitionRequest(reason="ok", actions=actions)
    transition_case(ready.case, "approved", ready.approver, request)
    db.session.commit()


def profile(actor: Any, **overrides: Any) -> Any:
    """Give `actor` a complete signatory profile of their own."""
    from compliance.auth.models import User
    from compliance.packets.operations import set_signatory_profile

    user = db.session.get(User, actor.user_id)
    fields = {
        "full_name": user.name,
        "title": "Senior Counsel" if user.role == "counsel" else "Records Custodian",
        "organisation": "Meridian AI",
        "postal_address": "500 Howard Street\nSan Francisco, CA 94105",
        "phone": "+1 415 555 0142",
        "email": user.email,
        **overrides,
    }
    result = set_signatory_profile(user, actor, fields)
    db.session.commit()
    return result


TAKEDOWN = {
    "basis": "terms",
    "recipient": "ModelHub Trust & Safety",
    "offending_urls": ["https://models.example/acme/distilled-coder-7b"],
    "repository": "acme/distilled-coder-7b",
    "files": ["model.safetensors", "config.json"],
    "uploader": "acme-ml",
}


def referral_fields(ready: Ready, **overrides: Any) -> dict[str, Any]:
    from compliance.auth.models import User

    custodian = db.session.get(User, ready.custodian.user_id)
    return {
        "recipient": "FBI Cyber Division",
        "agency_contact": "Special Agent R. Alvarez",
        "narrative": "Acme Distill Labs harvested our outputs at scale to train a model.",
        "custodian": custodian.email,
        **overrides,
    }


def build(case: Any, actor: Any, packet_type: str, fields: dict[str, Any] | None = None):
    """Compose and build a preview (a draft): (packet, pdf bytes)."""
    from compliance.packets import operations
    from compliance.packets.tasks import build_packet

    packet = operations.request_packet(case, packet_type, actor, fields=fields or {})
    db.session.commit()
    result = build_packet(packet.id)
    assert result.packet.status == "stored", result.packet.failure_reason
    return result.packet, result.pdf


def build_final(case: Any, actor: Any, packet_type: str, fields: dict[str, Any] | None = None):
    """Preview, then the final packet built from it: (final packet, pdf bytes)."""
    from compliance.packets import operations
    from compliance.packets.tasks import build_packet

    preview, _pdf = build(case, actor, packet_type, fields)
    final = operations.request_final(preview, actor)
    db.session.commit()
    result = build_packet(final.id)
    assert result.packet.status == "stored", result.packet.failure_reason
    return result.packet, result.pdf


def finding_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "schema": "distillation-finding/v1",
        "detector": {"name": "query-fingerprint", "version": "2.3.1"},
        "external_id": f"qf-pkt-{next(_ids):05d}",
        "kind": "query_fingerprint",
        "observed_from": "2026-10-01T00:00:00Z",
        "observed_to": "2026-10-18T23:59:59Z",
        "confidence": 0.93,
        "severity": "high",
        "subjects": [
            {"type": "account", "id": CUSTOMER_ACCOUNT},
            {"type": "email_domain", "id": CUSTOMER_EMAIL_DOMAIN},
            {"type": "ip_prefix", "id": "203.0.113.0/24"},
        ],
        "metrics": {"requests": 1840023, "accounts": 212, "template_similarity": 0.97},
        "summary": f"212 accounts including {CUSTOMER_ACCOUNT} sent 1.84M templated prompts.",
        "attachments": [
            {
                "name": "clusters.csv",
                "media_type": "text/csv",
                "content_base64": base64.b64encode(
                    f"cluster,account\nc1,{CUSTOMER_ACCOUNT}\n".encode()
                ).decode(),
            }
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def ready_case(make_case: Callable[..., Any], actor_for: Callable[[str], Any], operator: Any):
    """Factory: a case with one finding, a clause, notes; moved to `state` (default approved)."""
    from compliance.cases.operations import add_note, transition_case
    from compliance.cases.workflow import TransitionRequest
    from compliance.evidence.operations import ingest_findings
    from compliance.policies.operations import cite_clause, find_clause, sync_policies

    def factory(
        state: str = "approved", actions: tuple[str, ...] = ("takedown", "referral"), **fields
    ) -> Ready:
        analyst, counsel, approver, custodian = (
            actor_for("analyst"),
            actor_for("counsel"),
            actor_for("counsel"),
            actor_for("analyst"),
        )
        sync_policies(operator, PROJECT_ROOT / "policies")
        case = make_case(
            owner_id=analyst.user_id,
            summary=fields.pop("summary", INJECTION),
            suspected_actor="Acme Distill Labs",
            jurisdiction="US (N.D. Cal.)",
            incident_start=datetime(2026, 10, 1, tzinfo=UTC),
            incident_end=datetime(2026, 10, 20, tzinfo=UTC),
            targeted_domains=["coding", "reasoning"],
            **fields,
        )
        ingest_findings([finding_body()], analyst, channel="cli", into_case=case)
        cite_clause(
            case, analyst, find_clause("api-terms@2026-03#4.2"), "Templated extraction at scale."
        )
        add_note(case, counsel, PRIVILEGED, privileged=True)
        add_note(case, analyst, f"Customer contact for {CUSTOMER_ACCOUNT} is Jane Roe.")
        db.session.commit()
        path = ["triage", "investigating", "legal_review", "approved"]
        for target in path[: path.index(state) + 1] if state in path else []:
            who = approver if target == "approved" else analyst
            transition_case(case, target, who, TransitionRequest(reason="ok", actions=actions))
        db.session.commit()
        profile(counsel)
        profile(custodian, records_custodian=True, custodian_qualification="I run the store.")
        return Ready(case, counsel, approver, analyst, custodian)

    return factory


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def attachments(data: bytes) -> dict[str, bytes]:
    return {name: blobs[0] for name, blobs in PdfReader(io.BytesIO(data)).attachments.items()}
