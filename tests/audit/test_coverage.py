"""Every operation that changes data writes an audit event.

The operations are found by introspection (every public function in compliance/*/operations.py
and compliance/cases/retention.py), so an operation added later shows up here on its own and
fails until its author adds an entry to MUTATIONS (or, if it only reads, to READ_ONLY).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import func, select

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.cases.workflow import TransitionRequest
from compliance.db import utcnow
from compliance.errors import InvalidInput
from compliance.extensions import db

MODULES = (
    sorted(
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        for path in (PROJECT_ROOT / "compliance").glob("*/operations.py")
    )
    + sorted(  # operations split into a package: its public names are its __init__'s
        ".".join(path.parent.relative_to(PROJECT_ROOT).parts)
        for path in (PROJECT_ROOT / "compliance").glob("*/operations/__init__.py")
    )
    + [
        "compliance.cases.retention",
        "compliance.intel.taxii_server",
        "compliance.intel.taxii_client",
    ]
)

# Helpers that read (or only touch bookkeeping such as a token's last-used time).
READ_ONLY = {
    "compliance.auth.operations": {
        "active_session_counts", "find_user", "get_grant", "invited_user", "new_totp_secret",
        "role_grants", "session_user", "token_from_header", "totp_uri", "two_factor_required",
    },
    "compliance.cases.operations": {
        "find_owner",  # resolves an owner e-mail for the edit it is part of
        "get_case", "next_case_refs", "visible_notes",
    },
    "compliance.cases.retention": {"closed_at", "deletable_from", "history_refs"},
    "compliance.evidence.operations": {
        "canonical_json", "covered_evidence", "duplicate_flags", "evidence_count",
        "find_orphans",  # lists orphan blobs; clean_orphans removes them
        "get_flag", "get_item", "may_ingest", "open_flags_for", "superseded_ids",
    },
    "compliance.packets.operations": {
        "attachments_for",
        "check_final",  # the rules of a final build, checked; request_final records the request
        "compose_options", "composition_review", "counter_value", "document_of",
        "document_for_build", "lay_out",  # a build's document and its layout, in memory
        "gather", "gather_for",  # read the case's facts for a render
        "get_packet", "may_read",
        "packet_bytes",  # the stored PDF, hash-checked; download_packet audits the download
        "packets_for_case", "review_composition", "sent_packet_types", "signatory_profile",
    },
    "compliance.policies.operations": {
        "active_citation_count", "cases_citing", "citations_for_case", "clause_change",
        "covered_clauses",
        "clauses_in_force", "date_warnings", "evidence_choices", "find_clause", "get_citation",
        "get_document", "get_version", "incident_window", "inline_diff", "is_in_force",
        "list_documents", "policies_dir", "unified_text_diff", "version_diff",
        "versions_in_force",
    },
    "compliance.reviews.operations": {
        "cadence_days", "cadence_due", "due_pass_candidates", "escalation_candidates",
        "find_schedule", "my_reviews", "open_reviews", "policy_owner_id", "recipients_for",
        "reviews_for_case", "reviews_reaching", "sendable_emails", "status_at", "unread_count",
    },
    "compliance.intel.operations": {
        "case_findings", "case_subject_rows",
        "check_bundle_shape",  # refuses an oversized or too-deep bundle; stores nothing
        "below_source_marking",  # which findings TLP keeps from a level; stores nothing
        "default_finding_ids", "exports_for_case", "get_export", "intel_findings",
        "list_imports",
        "match_counts", "matches_for_case",
        "prepare_export",  # builds the bundle in memory for the preview; export_case stores it
        "restricted_evidence_ids", "restricted_finding_ids", "restriction_message",
        "shared_salt",  # the configured salt, checked
        "stored_bundle",
    },
    "compliance.intel.taxii_server": {
        "filtered_page", "find_collection", "list_collections", "list_partner_tokens",
        "parse_filters", "parse_taxii_time", "partner_actor",
        "partner_from_secret",  # like token_from_header: only the last-used time
        "readable_objects",  # what a partner may read; the view audits it with audit_read
        "taxii_time",
    },
    "compliance.intel.taxii_client": {"get_feed", "list_feeds"},
    "compliance.notices.operations": {
        "address_composition",  # fills a composition from the directory; request_packet audits
        "distinct_identifiers", "find_notice_transition", "find_recipient",
        "get_information_request", "get_notice", "get_recipient", "identifiers_from_packet",
        "list_notices", "list_recipients",
        "next_step", "normalise_identifier", "notice_count", "notice_json", "notice_options",
        "notices_for_case", "notices_matching", "recipient_json", "unsettled_notice_labels",
        "unsettled_notices",
    },
}  # fmt: skip

# Mutating operations whose entries are not written yet (strict expected failures). Keep empty.
PENDING: dict[str, set[str]] = {}

# Mutations known to write no audit event: product bugs, reported and fixed separately
# (compliance/evidence/operations.py was being edited by someone else). Non-strict expected
# failures: once the operation audits, the entry passes and this line should go.
UNAUDITED: dict[str, str] = {}


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


class World:
    """What an entry needs: actors of each role and a way to make cases."""

    def __init__(self, actor_for: Callable[[str], Actor], make_case: Callable, make_user) -> None:  # noqa: ANN001
        self.actor_for, self.make_case, self.make_user = actor_for, make_case, make_user
        self.counsel = actor_for("counsel")
        self.admin = actor_for("admin")
        self.operator = Actor.cli_operator()
        self.before: int | None = None

    def act(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an operation that commits on its own: the count is taken just before it."""
        self.before = _count()
        return operation(*args, **kwargs)


def _auth(name: str) -> Callable[[World], Any]:
    from compliance.auth import operations as ops

    def run(w: World) -> Any:
        user = w.make_user("analyst")
        if name == "create_user":
            return ops.create_user(w.admin, "new.person@lab.example", "analyst")
        if name == "issue_invitation":
            return ops.issue_invitation(w.admin, user)
        if name == "accept_invitation":
            raw = ops.issue_invitation(w.admin, user)
            db.session.commit()
            return ops.accept_invitation(raw, "a password of my own")
        if name in ("confirm_grant", "cancel_grant"):
            grant = ops.set_role(w.admin, user, "counsel")
            db.session.commit()
            return getattr(ops, name)(w.actor_for("admin"), grant)
        if name == "complete_sign_in":
            return ops.complete_sign_in(
                user, remember=False, client="203.0.113.1", user_agent="test", method="password"
            )
        if name in ("enable_two_factor", "check_second_factor", "reset_two_factor"):
            import pyotp

            secret = ops.new_totp_secret()
            code = pyotp.TOTP(secret).now()
            codes = ops.enable_two_factor(Actor.for_user(user), user, secret, code)
            if name == "enable_two_factor":
                return codes
            db.session.commit()
            if name == "check_second_factor":
                return ops.check_second_factor(user, codes[0])
            return ops.reset_two_factor(w.admin, user)
        if name == "record_second_factor_failure":
            return ops.record_second_factor_failure(user, "203.0.113.1")
        if name == "report_closed_windows":
            for _ in range(2):  # the first is audited at once, the second counted for later
                ops.authenticate(user.email, "wrong password!", now=utcnow() - timedelta(hours=1))
            db.session.commit()
            return ops.report_closed_windows()
        if name == "sign_out_everywhere":
            return ops.sign_out_everywhere(w.admin, user)
        if name == "set_password":
            return ops.set_password(w.admin, user, "another long password")
        if name == "set_role":
            return ops.set_role(w.admin, user, "counsel")
        if name == "set_active":
            return ops.set_active(w.admin, user, False)
        if name == "authenticate":
            return ops.authenticate(user.email, "wrong password!")
        if name == "sign_out":
            return ops.sign_out(Actor.for_user(user))
        if name == "create_token":
            return ops.create_token(w.admin, "detector", ["ingest"])
        if name == "revoke_token":
            token, _ = ops.create_token(w.admin, "detector", ["ingest"])
            db.session.commit()
            return ops.revoke_token(w.admin, token.id)
        raise AssertionError(name)

    return run


def _cases(name: str) -> Callable[[World], Any]:
    from compliance.cases import operations as ops

    def run(w: World) -> Any:
        if name == "create_case":
            return ops.create_case(w.counsel, title="New sweep")
        if name == "open_case":
            return ops.open_case(w.operator, title="Opened by ingestion")
        if name == "open_cases":
            return ops.open_cases(w.operator, [{"title": "Sweep A"}, {"title": "Sweep B"}])
        case = w.make_case()
        if name == "update_case":
            return ops.update_case(case, w.counsel, {"severity": "critical"})
        if name == "transition_case":
            return ops.transition_case(case, "triage", w.counsel)
        if name == "add_note":
            return ops.add_note(case, w.counsel, "A note")
        if name == "edit_note":
            note = ops.add_note(case, w.counsel, "A note")
            db.session.commit()
            return ops.edit_note(note, w.counsel, "A better note")
        if name == "record_privileged_view":
            note = ops.add_note(case, w.counsel, "Privileged", privileged=True)
            db.session.commit()
            return ops.record_privileged_view(case, w.counsel, [note])
        if name == "place_hold":
            return ops.place_hold(case, w.counsel, "litigation")
        if name == "release_hold":
            ops.place_hold(case, w.counsel, "litigation")
            db.session.commit()
            return ops.release_hold(case, w.counsel, "settled")
        raise AssertionError(name)

    return run


def _retention(name: str) -> Callable[[World], Any]:
    from compliance.cases import operations as ops
    from compliance.cases import retention

    def run(w: World) -> Any:
        case = w.make_case()
        if name == "merge_cases":
            return retention.merge_cases(case, w.make_case(), w.counsel, "same campaign")
        if name == "delete_case":
            ops.transition_case(case, "dismissed", w.counsel, TransitionRequest(reason="benign"))
            db.session.commit()
            later = utcnow() + timedelta(days=10 * 365)
            return retention.delete_case(case, w.admin, now=later)
        raise AssertionError(name)

    return run


# ---------------------------------------------------------------- shared set-up
_serial = itertools.count(1)


def _finding(*subjects: tuple[str, str]) -> dict[str, Any]:
    """A minimal valid finding (no attachments) about these subjects."""
    return {
        "schema": "distillation-finding/v1",
        "detector": {"name": "query-fingerprint", "version": "2.3.1"},
        "external_id": f"qf-coverage-{next(_serial):05d}",
        "kind": "query_fingerprint",
        "observed_from": "2026-10-01T00:00:00Z",
        "observed_to": "2026-10-18T23:59:59Z",
        "confidence": 0.9,
        "severity": "high",
        "subjects": [{"type": t, "id": v} for t, v in subjects or [("account", "acct_cov_1")]],
        "metrics": {"requests": 1000},
        "summary": "Templated prompts.",
    }


def _ingest(w: World, *subjects: tuple[str, str], into: Any = None) -> Any:
    """Ingest one finding (into `into`, else wherever it correlates); its case, committed."""
    from compliance.cases.operations import get_case
    from compliance.evidence.operations import ingest_findings

    outcome = ingest_findings(_finding(*subjects), w.operator, channel="cli", into_case=into)
    db.session.commit()
    return get_case(outcome[0].case_ref)


def _item(w: World, commit: bool = True) -> Any:
    """An uploaded evidence item on a new case."""
    from compliance.evidence.operations import add_evidence_file

    item = add_evidence_file(
        w.make_case(),
        w.counsel,
        name="forum-post.png",
        media_type="image/png",
        data=b"not really a png",
        description="Screenshot of the forum post",
    )
    if commit:
        db.session.commit()
    return item


def _sync_policies(w: World) -> None:
    from compliance.policies.operations import sync_policies

    sync_policies(w.operator, PROJECT_ROOT / "policies")
    db.session.commit()


def _stored_packet(w: World, packet_type: str, *, draft: bool) -> Any:
    """A packet as a build leaves it (stored), without rendering: build_packet has its own entry
    and a render takes seconds."""
    from compliance.evidence.store import blob_store
    from compliance.packets.operations import request_packet

    packet = request_packet(w.make_case(), packet_type, w.counsel, draft=True)
    data = b"%PDF-1.7 stand-in for a rendered packet"
    packet.sha256, _created = blob_store().put(data)
    packet.draft, packet.status, packet.size_bytes = draft, "stored", len(data)
    packet.built_at = utcnow()
    db.session.commit()
    return packet


def _signatory(w: World) -> Any:
    from compliance.auth.models import User
    from compliance.packets.operations import set_signatory_profile

    user = db.session.get(User, w.counsel.user_id)
    fields = {
        "full_name": "Casey Counsel",
        "title": "Counsel",
        "organisation": "Lab",
        "postal_address": "1 Street",
        "phone": "+1 555 0100",
        "email": user.email,
    }
    return set_signatory_profile(user, w.counsel, fields)


def _takedown_preview(w: World) -> Any:
    """A stored takedown preview of an approved case, its inputs recorded as a build does."""
    from compliance.packets import operations as ops

    _signatory(w)
    case = w.make_case()
    case.state, case.chosen_actions = "approved", ["takedown"]
    fields = {"recipient": "Model hub", "offending_urls": ["https://hub.example/m"]}
    preview = ops.request_packet(case, "takedown", w.counsel, fields=fields)
    doc = ops.document_of(ops.gather(preview))
    preview.status, preview.sha256 = "stored", "0" * 64
    preview.inputs, preview.inputs_sha256 = doc.inputs, doc.inputs_sha256
    db.session.commit()
    return preview


def _counsel_case(w: World) -> Any:
    """A case owned by the counsel actor (so its review notifications go to someone we know)."""
    return w.make_case(owner_id=w.counsel.user_id)


# ---------------------------------------------------------------- entries per capability
def _evidence(name: str) -> Callable[[World], Any]:
    from compliance.evidence import operations as ops
    from compliance.evidence.models import DuplicateFlag
    from compliance.evidence.store import blob_store

    def run(w: World) -> Any:
        if name == "ingest_findings":
            return ops.ingest_findings(_finding(), w.operator, channel="cli")
        if name == "record_rejected_batch":
            return ops.record_rejected_batch(w.operator, "api", InvalidInput("bad batch"), 1)
        if name == "add_evidence_file":
            return _item(w, commit=False)
        if name == "clean_orphans":
            blob_store().put(b"bytes no evidence item refers to")
            return ops.clean_orphans(w.operator, grace_seconds=0)
        if name == "move_store":
            from compliance.evidence.store import FilesystemStore

            _item(w)
            target = FilesystemStore(Path(current_app.config["EVIDENCE_DIR"]).parent / "moved")
            return ops.move_store(w.operator, blob_store(), target, "to another folder")
        if name == "resolve_duplicate":
            first, second = w.make_case(), w.make_case()
            shared = ("account", "acct_cov_dup")
            _ingest(w, shared, into=first)
            _ingest(w, shared, into=second)
            _ingest(w, shared)  # joins the older case and flags the other as a possible duplicate
            flag = db.session.scalar(select(DuplicateFlag))
            return ops.resolve_duplicate(flag, w.counsel, merge=False, note="distinct campaigns")
        item = _item(w)
        if name == "verify_evidence":
            return ops.verify_evidence(w.operator)
        if name == "download_item":
            return ops.download_item(item, w.counsel, "exhibit review")
        if name == "record_view":
            return ops.record_view(item, w.counsel)
        if name == "record_custody":
            return ops.record_custody(item, w.counsel, "exported", "sent to outside counsel")
        raise AssertionError(name)

    return run


def _packets(name: str) -> Callable[[World], Any]:
    from compliance.packets import operations as ops
    from compliance.packets import render

    def run(w: World) -> Any:
        if name == "reserve_range":
            return ops.reserve_range("COV", 3, 0)
        if name == "record_sending":
            packet = _stored_packet(w, "takedown", draft=False)
            return ops.record_sending(
                packet, w.counsel, recipient="Model hub", channel="email", sent_on=utcnow()
            )
        if name == "download_packet":
            return ops.download_packet(_stored_packet(w, "memo", draft=True), w.counsel)
        if name == "request_packet":
            return ops.request_packet(w.make_case(), "memo", w.counsel, draft=True)
        if name == "set_signatory_profile":
            return _signatory(w)
        if name == "request_final":
            return ops.request_final(_takedown_preview(w), w.counsel)
        packet = ops.request_packet(w.make_case(), "memo", w.counsel, draft=True)
        db.session.commit()
        if name == "start_build":
            return ops.start_build(packet.id, utcnow())
        if name == "mark_failed":
            return ops.mark_failed(packet.id, "renderer crashed")
        if name == "retry_packet":
            ops.mark_failed(packet.id, "renderer crashed")
            db.session.commit()  # the count follows the failure
            return ops.retry_packet(db.session.get(type(packet), packet.id), w.counsel)
        # The build's later stages, on a stand-in layout: a render takes seconds and the
        # stages only need its page count and its bytes.
        ops.start_build(packet.id, utcnow())
        db.session.commit()
        laid_out = SimpleNamespace(pages=2, write=lambda attachments: b"%PDF-1.7 stand-in")
        doc = ops.document_for_build(packet)
        if name == "reserve_numbers":
            layout = ops.Layout(doc, laid_out, render.Bates("COV", ops.counter_value("COV") + 1))
            return ops.reserve_numbers(packet, layout)
        if name == "store_packet":
            return ops.store_packet(packet, ops.Layout(doc, laid_out, None), sign=False)
        raise AssertionError(name)

    return run


def _policies(name: str) -> Callable[[World], Any]:
    from compliance.policies import operations as ops

    def run(w: World) -> Any:
        if name == "sync_policies":
            return ops.sync_policies(w.operator, PROJECT_ROOT / "policies")
        _sync_policies(w)
        if name == "schedule_review":
            document = ops.get_document("api-terms")
            return ops.schedule_review(
                w.counsel, document, document.next_review_on - timedelta(days=1)
            )
        case = w.make_case(
            incident_start=datetime(2026, 10, 1, tzinfo=UTC),
            incident_end=datetime(2026, 10, 20, tzinfo=UTC),
        )
        clause = ops.find_clause("api-terms@2026-03#4.2")
        if name == "cite_clause":
            return ops.cite_clause(case, w.counsel, clause, "Templated extraction at scale.")
        citation = ops.cite_clause(case, w.counsel, clause, "Templated extraction at scale.")
        db.session.commit()
        if name == "withdraw_citation":
            return ops.withdraw_citation(case, w.counsel, citation, "cited in error")
        raise AssertionError(name)

    return run


def _reviews(name: str) -> Callable[[World], Any]:
    from compliance.cases.operations import place_hold
    from compliance.policies.operations import get_document
    from compliance.reviews import operations as ops
    from compliance.reviews.models import OutboxEmail

    def run(w: World) -> Any:
        now = utcnow()
        if name in ("sync_policy_annual_reviews", "complete_policy_review"):
            _sync_policies(w)
            if name == "sync_policy_annual_reviews":
                return ops.sync_policy_annual_reviews(now, w.operator)
            return ops.complete_policy_review(
                get_document("api-terms"), w.counsel, outcome="continue", form_token="cov-policy"
            )
        case = _counsel_case(w)  # opening it scheduled its first review
        row = ops.find_schedule("case", "case", case.id)
        if name == "schedule_case_reviews":
            return ops.schedule_case_reviews([case], w.counsel)
        if name == "complete_review":
            return ops.complete_review(case, w.counsel, outcome="continue", form_token="cov-case")
        if name == "advance_review":
            return ops.advance_review(row, "overdue", now, w.operator)
        if name == "notify":
            return ops.notify(row, "overdue", now)
        if name == "sync_hold_reviews":
            place_hold(case, w.counsel, "litigation expected")
            db.session.commit()
            return ops.sync_hold_reviews(now, w.operator)
        if name == "sync_case_reviews":
            row.status = "done"  # an open case whose review slipped through unscheduled
            db.session.commit()
            return ops.sync_case_reviews(now, w.operator)
        if name == "close_reviews_of_merged_case":
            return ops.close_reviews_of_merged_case(case, w.make_case(), w.counsel)
        ops.notify(row, "overdue", now)  # a notification (and its e-mail) for the counsel
        db.session.commit()
        if name == "mark_read":
            return ops.mark_read(w.counsel)
        if name == "record_email_attempt":  # a failed attempt that will be retried
            email = db.session.scalar(select(OutboxEmail))
            return ops.record_email_attempt(email, now, w.operator, error="SMTP timeout")
        raise AssertionError(name)

    return run


def _intel(name: str) -> Callable[[World], Any]:
    from compliance.intel import operations as ops
    from compliance.intel import stix

    def run(w: World) -> Any:
        if name == "export_case":
            case = _ingest(w, ("account", "acct_cov_export"))
            return ops.export_case(case, w.counsel, tlp="amber", recipient="Corvid Labs")
        # Another lab's bundle naming an account we have not seen yet.
        spec = stix.ExportSpec(
            case_ref="MER-2026-0001",
            organisation="Corvid Labs",
            tlp="amber",
            salt=ops.shared_salt(),
            nonce=uuid.uuid4().hex,
            prepared_at=utcnow().replace(microsecond=0),
            subjects=(stix.SharedSubject("account", "acct_cov_shared"),),
        )
        data = stix.build_bundle(spec).data
        if name == "import_bundle":
            return ops.import_bundle(data, w.counsel, source="Corvid Labs")
        ops.import_bundle(data, w.counsel, source="Corvid Labs")
        db.session.commit()
        _ingest(w, ("account", "acct_cov_shared"))  # the account shows up after the import
        if name == "match_imports":
            return ops.match_imports(w.counsel)
        raise AssertionError(name)

    return run


def _taxii(name: str) -> Callable[[World], Any]:
    from compliance.intel import operations as intel_ops
    from compliance.intel import taxii_client, taxii_server

    class Remote:
        """A partner's collection as taxii2-client would present it (no network here)."""

        _conn = SimpleNamespace(session=SimpleNamespace(hooks={"response": []}))

        def get_objects(self, **kwargs: Any) -> dict[str, Any]:
            return {"more": False, "objects": []}

        def add_objects(self, envelope: Any, **kwargs: Any) -> Any:
            return type(
                "Status",
                (),
                {
                    "id": "s1",
                    "status": "complete",
                    "success_count": 1,
                    "failure_count": 0,
                    "pending_count": 0,
                },
            )()

        def close(self) -> None:
            pass

    def run(w: World) -> Any:
        if name == "create_collection":
            return taxii_server.create_collection(
                w.counsel, title="Forum", community="Forum", max_tlp="amber"
            )
        if name in ("create_partner_token", "revoke_partner_token", "publish_export", "audit_read"):
            collection = taxii_server.create_collection(
                w.counsel, title="Forum", community="Forum", max_tlp="amber"
            )
            token, _raw = (
                taxii_server.create_partner_token(
                    w.counsel, partner="Corvid Labs", collection=collection
                )
                if name != "create_partner_token"
                else (None, None)
            )
            db.session.commit()
            if name == "create_partner_token":
                return taxii_server.create_partner_token(
                    w.counsel, partner="Corvid Labs", collection=collection
                )
            if name == "revoke_partner_token":
                return taxii_server.revoke_partner_token(w.counsel, token.id)
            if name == "audit_read":
                return taxii_server.audit_read(token, "collections")
            case = _ingest(w, ("account", "acct_cov_taxii"))
            export = intel_ops.export_case(case, w.counsel, tlp="amber", recipient="Forum")
            db.session.commit()
            return taxii_server.publish_export(w.counsel, export, collection)
        feed = (
            taxii_client.add_feed(
                w.counsel,
                partner="Corvid Labs",
                api_root_url="https://taxii.example/root/",
                collection="c1",
                secret="their token",
            )
            if name != "add_feed"
            else None
        )
        if name == "add_feed":
            return taxii_client.add_feed(
                w.counsel,
                partner="Corvid Labs",
                api_root_url="https://taxii.example/root/",
                collection="c1",
                secret="their token",
            )
        db.session.commit()
        if name == "set_feed_active":
            return taxii_client.set_feed_active(w.counsel, feed, False)
        if name == "set_feed_secret":
            return taxii_client.set_feed_secret(w.counsel, feed, "rotated token")
        if name == "record_poll_failure":
            error = taxii_client.FeedUnavailable("connection refused")
            return taxii_client.record_poll_failure(feed, w.operator, error)
        original = taxii_client._collection
        taxii_client._collection = lambda feed: Remote()  # type: ignore[assignment]
        try:
            if name == "poll_feed":
                return taxii_client.poll_feed(feed, w.operator)
            if name == "push_export":
                case = _ingest(w, ("account", "acct_cov_push"))
                export = intel_ops.export_case(case, w.counsel, tlp="green", recipient="Forum")
                db.session.commit()
                return taxii_client.push_export(w.counsel, export, feed)
        finally:
            taxii_client._collection = original  # type: ignore[assignment]
        raise AssertionError(name)

    return run


def _notices(name: str) -> Callable[[World], Any]:
    from compliance.notices import operations as ops
    from compliance.notices.models import Notice

    def sent(w: World, packet_type: str = "takedown") -> Any:
        packet = _stored_packet(w, packet_type, draft=False)
        ops.mark_sent(packet, w.counsel, recipient="Model hub", channel="email", sent_on=utcnow())
        db.session.commit()
        return db.session.scalar(select(Notice).where(Notice.packet_id == packet.id))

    fields = {
        "name": "Hub",
        "kind": "hosting_platform",
        "jurisdiction": "US",
        "email": "a@x.example",
    }

    def run(w: World) -> Any:
        if name == "create_recipient":
            return ops.create_recipient(w.admin, fields)
        if name == "update_recipient":
            entry = ops.create_recipient(w.admin, fields)
            db.session.commit()
            return ops.update_recipient(entry, w.counsel, {"response_days": 3})
        if name == "mark_sent":
            packet = _stored_packet(w, "takedown", draft=False)
            return ops.mark_sent(
                packet, w.counsel, recipient="Model hub", channel="email", sent_on=utcnow()
            )
        if name == "record_notice":
            packet = _stored_packet(w, "takedown", draft=False)
            return ops.record_notice(
                packet,
                w.counsel,
                recipient=None,
                recipient_name="Hub",
                channel="email",
                sent_at=utcnow(),
            )
        notice = sent(w, "referral" if "referral" in name or "information" in name else "takedown")
        if name == "transition_notice":
            return ops.transition_notice(notice, w.counsel, "acknowledged")
        if name == "record_response":
            return ops.record_response(notice, w.counsel, note="they asked for a date")
        if name == "set_identifiers":
            return ops.set_identifiers(notice, w.counsel, [("model_name", "acme/x")])
        if name == "set_owner":
            return ops.set_owner(notice, w.counsel, w.make_user("analyst").id)
        if name == "update_referral":
            return ops.update_referral(notice, w.counsel, agency_case_number="A-1")
        info = ops.record_information_request(
            notice, w.counsel, received_on=utcnow().date(), request="logs"
        )
        if name == "record_information_request":
            return info
        db.session.commit()
        answer = _stored_packet(w, "referral", draft=False)
        answer.case_id = notice.case_id
        ops.mark_sent(answer, w.counsel, recipient="Agency", channel="email", sent_on=utcnow())
        db.session.commit()
        return ops.answer_information_request(info, w.counsel, answer)

    return run


MUTATIONS: dict[str, Callable[[str], Callable[[World], Any]]] = {
    **{f"compliance.auth.operations.{n}": _auth for n in (
        "create_user", "set_password", "set_role", "set_active", "authenticate",
        "sign_out", "create_token", "revoke_token", "issue_invitation", "accept_invitation",
        "confirm_grant", "cancel_grant", "complete_sign_in", "enable_two_factor",
        "check_second_factor", "reset_two_factor", "record_second_factor_failure",
        "report_closed_windows", "sign_out_everywhere",
    )},
    **{f"compliance.cases.operations.{n}": _cases for n in (
        "create_case", "open_case", "open_cases", "update_case", "transition_case", "add_note",
        "edit_note", "record_privileged_view", "place_hold", "release_hold",
    )},
    **{f"compliance.cases.retention.{n}": _retention for n in ("merge_cases", "delete_case")},
    **{f"compliance.evidence.operations.{n}": _evidence for n in (
        "ingest_findings", "record_rejected_batch", "add_evidence_file", "clean_orphans",
        "move_store", "resolve_duplicate", "verify_evidence", "download_item", "record_view",
        "record_custody",
    )},
    **{f"compliance.packets.operations.{n}": _packets for n in (
        "reserve_range", "record_sending", "download_packet", "request_packet", "start_build",
        "reserve_numbers", "store_packet", "mark_failed", "request_final",
        "set_signatory_profile", "retry_packet",
    )},
    **{f"compliance.notices.operations.{n}": _notices for n in (
        "create_recipient", "update_recipient", "mark_sent", "record_notice", "transition_notice",
        "record_response", "set_identifiers", "set_owner", "update_referral",
        "record_information_request", "answer_information_request",
    )},
    **{f"compliance.policies.operations.{n}": _policies for n in (
        "sync_policies", "schedule_review", "cite_clause", "withdraw_citation",
    )},
    **{f"compliance.reviews.operations.{n}": _reviews for n in (
        "sync_policy_annual_reviews", "complete_policy_review", "schedule_case_reviews",
        "complete_review", "advance_review", "notify", "sync_hold_reviews", "sync_case_reviews",
        "close_reviews_of_merged_case", "mark_read", "record_email_attempt",
    )},
    **{f"compliance.intel.operations.{n}": _intel for n in (
        "export_case", "import_bundle", "match_imports",
    )},
    **{f"compliance.intel.taxii_server.{n}": _taxii for n in (
        "create_collection", "create_partner_token", "revoke_partner_token", "publish_export",
        "audit_read",
    )},
    **{f"compliance.intel.taxii_client.{n}": _taxii for n in (
        "add_feed", "set_feed_active", "set_feed_secret", "record_poll_failure", "poll_feed",
        "push_export",
    )},
}  # fmt: skip


def _operations() -> list[tuple[str, str]]:
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            defined_here = function.__module__ == module_name or (
                hasattr(module, "__path__") and function.__module__.startswith(module_name + ".")
            )
            if defined_here and not name.startswith("_"):
                found.append((module_name, name))
    return found


def _params() -> list[Any]:
    params = []
    for module_name, name in _operations():
        if name in READ_ONLY.get(module_name, set()):
            continue
        marks = []
        if name in PENDING.get(module_name, set()):
            marks = [pytest.mark.xfail(reason="coverage entry not written yet", strict=True)]
        elif f"{module_name}.{name}" in UNAUDITED:
            reason = f"product bug: {UNAUDITED[f'{module_name}.{name}']}"
            marks = [pytest.mark.xfail(reason=reason, strict=False)]
        params.append(
            pytest.param(f"{module_name}.{name}", id=f"{module_name}.{name}", marks=marks)
        )
    return params


def test_operations_are_found():
    names = {f"{m}.{n}" for m, n in _operations()}
    assert "compliance.cases.operations.transition_case" in names
    assert "compliance.cases.retention.merge_cases" in names
    assert "compliance.evidence.operations.ingest_findings" in names  # a package's __init__


@pytest.mark.parametrize("operation", _params())
def test_every_mutation_writes_an_audit_event(operation, app, actor_for, make_case, make_user):
    assert operation in MUTATIONS, (
        f"{operation} is a public operation with no audit-coverage entry: if it changes data, "
        "add it to MUTATIONS in tests/audit/test_coverage.py (set up data, call it); if it only "
        "reads, add it to READ_ONLY there"
    )
    world = World(actor_for, make_case, make_user)
    db.session.commit()
    run = MUTATIONS[operation](operation.rsplit(".", 1)[1])
    # The count is taken after the entry's own set-up has committed, just before the call (or,
    # for an operation that commits on its own, by World.act just before it).
    counts: list[int] = []
    original_commit = db.session.commit

    def commit() -> None:
        original_commit()
        counts.append(_count())

    db.session.commit = commit  # type: ignore[method-assign]
    try:
        counts.append(_count())
        run(world)
    finally:
        db.session.commit = original_commit  # type: ignore[method-assign]
    db.session.flush()
    before = counts[-1] if world.before is None else world.before
    assert _count() > before, f"{operation} changed data without writing an audit event"
