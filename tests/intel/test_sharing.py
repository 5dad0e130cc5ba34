"""Counsel shares a case with another lab, the other lab matches it; TLP is enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stix2
from sqlalchemy import func, select
from stix2validator import ValidationOptions, validate_string

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.cases.models import Subject
from compliance.errors import InvalidInput, PermissionDenied
from compliance.evidence.models import CustodyEvent, EvidenceItem, Finding
from compliance.extensions import db
from compliance.intel import operations, stix
from compliance.intel.models import IntelExport, IntelImport, IntelMatch
from tests.intel.conftest import (
    ACCOUNT,
    API_KEY,
    DOMAIN,
    ORG,
    PAYMENT,
    PREFIX,
    RAW_IDENTIFIERS,
)


def _subject_ids(case: Any, *types: str) -> list[int]:
    return [s.id for s in operations.case_subject_rows(case) if s.type in types]


def _export(case: Any, counsel: Actor, tlp: str = "amber", **options: Any) -> bytes:
    record = operations.export_case(case, counsel, tlp=tlp, recipient="Corvid Labs", **options)
    db.session.commit()
    return operations.stored_bundle(record.sha256)


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("level", stix.TLP_ORDER)
def test_export_is_valid_stix_with_no_warning_and_parses_without_custom_content(
    app: Any, campaign_case: Any, actor_for: Any, level: str
) -> None:
    """What OpenCTI and MISP need: no custom object types, only registered extensions."""
    every_type = _subject_ids(campaign_case, *stix.HASHED_TYPES, "ip_prefix", "email_domain")
    data = _export(campaign_case, actor_for("counsel"), tlp=level, subject_ids=every_type)

    result = validate_string(data.decode(), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    assert [str(w) for w in result.warnings] == []
    parsed = stix2.parse(data.decode(), allow_custom=False)  # our extension is registered
    types = {o.type for o in parsed.objects}
    assert "x-distillation-subject" not in types and "distillation-subject" in types
    definitions = {o.id: o for o in parsed.objects if o.type == "extension-definition"}
    assert set(definitions) == {stix.SUBJECT_EXTENSION, stix.OBSERVATION_EXTENSION}
    identity = next(o for o in parsed.objects if o.type == "identity")
    for definition in definitions.values():
        assert definition.created_by_ref == identity.id
        assert json.loads(definition.schema)["type"] == "object"
    assert definitions[stix.SUBJECT_EXTENSION].extension_types == ["new-sco"]
    assert definitions[stix.OBSERVATION_EXTENSION].extension_types == ["property-extension"]
    for observed in (o for o in parsed.objects if o.type == "observed-data"):
        assert observed.extensions[stix.OBSERVATION_EXTENSION].kind
        assert not [k for k in observed if k.startswith("x_")]
    markings = [o for o in parsed.objects if o.type == "marking-definition"]
    assert [m.id for m in markings] == [stix.TLP2_IDS[level]]  # the standard TLP 2.0 object


def test_export_is_valid_stix_marked_and_carries_no_raw_identifier(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    counsel = actor_for("counsel")
    every_type = _subject_ids(campaign_case, *stix.HASHED_TYPES, "ip_prefix", "email_domain")
    data = _export(campaign_case, counsel, tlp="amber+strict", subject_ids=every_type)

    result = validate_string(data.decode(), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    bundle = json.loads(data)
    marking = stix.TLP2_IDS["amber+strict"]
    for obj in bundle["objects"]:
        if obj["type"] != "marking-definition":
            assert obj["object_marking_refs"] == [marking], obj["id"]
    assert {o["type"] for o in bundle["objects"]} >= {
        "identity",
        "campaign",
        "indicator",
        "observed-data",
        "relationship",
        "extension-definition",
        "distillation-subject",
    }
    text = data.decode().lower()
    for raw in RAW_IDENTIFIERS:
        assert raw.lower() not in text, f"{raw} left the building"
    # Network indicators go in clear because counsel chose them; prompts and thresholds never.
    assert PREFIX in text and DOMAIN in text
    assert "template_similarity" not in text and "linkage_threshold" not in text
    assert "explain step by step" not in text

    record = db.session.scalar(select(IntelExport))
    assert record.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert record.recipient == "Corvid Labs" and record.tlp == "amber+strict"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intel.exported"))
    assert event.details["sha256"] == record.sha256 and event.case_ref == campaign_case.ref


def test_default_export_shares_hashed_subjects_only(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    data = _export(campaign_case, actor_for("counsel"))
    text = data.decode()
    assert PREFIX not in text and DOMAIN not in text  # not chosen: stays inside
    patterns = [o["pattern"] for o in json.loads(data)["objects"] if o["type"] == "indicator"]
    assert len(patterns) == 4 and all("[distillation-subject:" in p for p in patterns)


def test_round_trip_matches_the_same_subjects_on_another_instance(
    app: Any, campaign_case: Any, actor_for: Any, other_lab: Any, ingest: Any
) -> None:
    shared = _subject_ids(campaign_case, "account", "payment_fingerprint", "ip_prefix")
    data = _export(campaign_case, actor_for("counsel"), subject_ids=shared)

    with other_lab.app_context():
        # The other lab saw the same account and card, plus things we never shared.
        theirs = ingest(
            [("account", ACCOUNT), ("payment_fingerprint", PAYMENT), ("account", "acct_theirs1")]
        )
        network = ingest([("ip_prefix", "203.0.113.128/25")])  # inside our prefix
        unrelated = ingest([("api_key", API_KEY + "x"), ("org", ORG + " Two")])
        analyst = Actor.cli_operator()
        outcome = operations.import_bundle(data, analyst, source="Frontier Lab", filename="b.json")
        db.session.commit()

        matched = {
            (m.case.ref, db.session.get(Subject, m.subject_id).value) for m in outcome.matches
        }
        assert matched == {
            (theirs.ref, ACCOUNT),
            (theirs.ref, PAYMENT),
            (network.ref, "203.0.113.128/25"),
        }
        assert unrelated.ref not in {ref for ref, _ in matched}
        findings = db.session.scalars(
            select(Finding).where(Finding.detector_name == "industry-sharing")
        ).all()
        assert {(f.case.ref, f.kind) for f in findings} == {
            (theirs.ref, "account_linkage"),
            (network.ref, "account_linkage"),
        }
        # Ingested the normal way: the bundle is preserved as evidence with its custody.
        item = db.session.scalar(
            select(EvidenceItem).where(
                EvidenceItem.finding_id == findings[0].id, EvidenceItem.role == "attachment"
            )
        )
        assert item.sha256 == outcome.intel_import.sha256
        actions = {e.action for e in db.session.scalars(select(CustodyEvent))}
        assert {"collected", "ingested"} <= actions
        assert outcome.intel_import.tlp == "amber" and not outcome.intel_import.tlp_assumed


def test_a_different_salt_matches_nothing(
    app: Any, campaign_case: Any, actor_for: Any, other_lab: Any, ingest: Any
) -> None:
    data = _export(campaign_case, actor_for("counsel"))
    with other_lab.app_context():
        other_lab.config["INTEL_SHARED_SALT"] = "another forum's salt"
        ingest([("account", ACCOUNT), ("payment_fingerprint", PAYMENT)])
        outcome = operations.import_bundle(data, Actor.cli_operator(), source="Frontier Lab")
        db.session.commit()
        assert outcome.matches == []


def test_unmatched_bundle_is_kept_and_matched_when_subjects_arrive(
    app: Any, campaign_case: Any, actor_for: Any, other_lab: Any, ingest: Any
) -> None:
    data = _export(campaign_case, actor_for("counsel"))
    with other_lab.app_context():
        outcome = operations.import_bundle(data, Actor.cli_operator(), source="Frontier Lab")
        db.session.commit()
        assert outcome.matches == [] and _count(IntelImport) == 1

        later = ingest([("org", ORG)])
        from compliance.intel.tasks import rematch_intel

        summary = rematch_intel()
        assert summary == {"matches": 1, "cases": [later.ref]}
        assert rematch_intel() == {"matches": 0, "cases": []}  # nothing new: nothing twice


def test_duplicate_bundle_is_not_stored_twice(app: Any, campaign_case: Any, actor_for: Any) -> None:
    data = _export(campaign_case, actor_for("counsel"))
    first = operations.import_bundle(data, Actor.cli_operator(), source="Lab A")
    db.session.commit()
    again = operations.import_bundle(data, Actor.cli_operator(), source="Lab A")
    assert again.duplicate and again.intel_import.id == first.intel_import.id
    assert _count(IntelImport) == 1


def _red_bundle(case: Any, counsel: Actor, level: str = "red") -> bytes:
    """Another lab's bundle under `level`, about this case's subjects (built as they would)."""
    return _export(case, counsel, tlp=level)


@pytest.mark.parametrize("level", ["red", "amber+strict"])
def test_restricted_intel_never_reaches_packets_or_exports(
    app: Any, campaign_case: Any, actor_for: Any, level: str
) -> None:
    from compliance.packets.operations import request_packet

    counsel = actor_for("counsel")
    incoming = _red_bundle(campaign_case, counsel, level)
    operations.import_bundle(incoming, Actor.cli_operator(), source="Nimbus Watch")
    db.session.commit()

    restricted = operations.restricted_evidence_ids(campaign_case)
    assert restricted, "the matched finding's evidence is marked restricted"
    intel_finding = db.session.scalar(
        select(Finding).where(Finding.detector_name == "industry-sharing")
    )
    for packet_type in ("takedown", "referral"):
        # Left out of outgoing packets on its own; naming it is refused, saying why.
        fields = {"recipient_in_community": True}
        packet = request_packet(campaign_case, packet_type, counsel, fields=fields)
        assert packet.id
        with pytest.raises(InvalidInput, match="not valid") as refused:
            request_packet(
                campaign_case,
                packet_type,
                counsel,
                fields={**fields, "exhibits": [f"finding:{intel_finding.id}"]},
            )
        assert "never leaves" in refused.value.details["exhibits"]
        db.session.rollback()
    assert request_packet(campaign_case, "memo", counsel, draft=True).id  # internal: allowed
    db.session.rollback()

    intel_finding = db.session.scalar(
        select(Finding).where(Finding.detector_name == "industry-sharing")
    )
    with pytest.raises(operations.SharingRefused, match="Nimbus Watch"):
        operations.export_case(
            campaign_case,
            counsel,
            tlp="green",
            recipient="forum",
            finding_ids=[intel_finding.id],
        )
    db.session.rollback()
    # Left out (the default), our own findings still go.
    record = operations.export_case(campaign_case, counsel, tlp="green", recipient="forum")
    assert intel_finding.id not in [f["finding_id"] for f in record.shared_findings]


def test_green_intel_does_not_block_packets(app: Any, campaign_case: Any, actor_for: Any) -> None:
    from compliance.packets.operations import request_packet

    counsel = actor_for("counsel")
    operations.import_bundle(
        _export(campaign_case, counsel, tlp="green"), Actor.cli_operator(), source="Lab"
    )
    db.session.commit()
    assert operations.restricted_evidence_ids(campaign_case) == set()
    assert request_packet(campaign_case, "takedown", counsel, draft=True).id


def test_note_with_a_customer_identifier_is_refused(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    with pytest.raises(operations.SharingRefused, match="raw customer identifiers"):
        operations.prepare_export(
            campaign_case,
            actor_for("counsel"),
            tlp="amber",
            recipient="forum",
            note=f"ask us about {ACCOUNT}",
        )


@pytest.mark.parametrize(
    ("role", "call"),
    [
        ("analyst", "export"),
        ("auditor", "export"),
        ("auditor", "import"),
        ("admin", "import"),
    ],
)
def test_roles(app: Any, campaign_case: Any, actor_for: Any, role: str, call: str) -> None:
    actor = actor_for(role)
    with pytest.raises(PermissionDenied):
        if call == "export":
            operations.export_case(campaign_case, actor, tlp="amber", recipient="forum")
        else:
            operations.import_bundle(b"{}", actor, source="Lab")


def _bundle_dict(campaign_case: Any, counsel: Actor) -> dict[str, Any]:
    return json.loads(_export(campaign_case, counsel))


def _strip_markings(bundle: dict[str, Any]) -> dict[str, Any]:
    objects = [o for o in bundle["objects"] if o["type"] != "marking-definition"]
    for obj in objects:
        obj.pop("object_marking_refs", None)
    return {**bundle, "objects": objects}


BAD_INPUTS = {
    "not json": lambda b: b"{not json",
    "not a bundle": lambda b: json.dumps({"type": "indicator"}).encode(),
    "STIX 2.0 bundle": lambda b: json.dumps({**b, "spec_version": "2.0"}).encode(),
    "unknown spec_version": lambda b: json.dumps(
        {**b, "objects": [{**o, "spec_version": "2.2"} for o in b["objects"]]}
    ).encode(),
    "invalid STIX": lambda b: json.dumps(
        {
            **b,
            "objects": [
                {**o, "pattern": "[ipv4-addr:value = "} if o["type"] == "indicator" else o
                for o in b["objects"]
            ],
        }
    ).encode(),
    "no TLP marking": lambda b: json.dumps(_strip_markings(b)).encode(),
    "oversize": lambda b: json.dumps(b).encode() + b" " * 6_000_000,
}


@pytest.mark.parametrize("case_name", sorted(BAD_INPUTS))
def test_bad_bundles_are_refused_and_nothing_is_stored(
    app: Any, campaign_case: Any, actor_for: Any, case_name: str
) -> None:
    bundle = _bundle_dict(campaign_case, actor_for("counsel"))
    analyst = actor_for("analyst")
    evidence_dir = Path(app.config["EVIDENCE_DIR"])
    blobs_before = sorted(p.name for p in evidence_dir.rglob("*") if p.is_file())
    audit_before = _count(AuditEvent)

    with pytest.raises(InvalidInput) as refused:
        operations.import_bundle(BAD_INPUTS[case_name](bundle), analyst, source="X")
    db.session.rollback()

    assert refused.value.message
    assert _count(IntelImport) == 0 and _count(IntelMatch) == 0
    assert sorted(p.name for p in evidence_dir.rglob("*") if p.is_file()) == blobs_before
    assert _count(AuditEvent) == audit_before


def test_unmarked_bundle_can_be_accepted_as_amber_strict_by_configuration(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    bundle = _strip_markings(_bundle_dict(campaign_case, actor_for("counsel")))
    app.config["INTEL_UNMARKED_POLICY"] = "amber+strict"
    outcome = operations.import_bundle(
        json.dumps(bundle).encode(), Actor.cli_operator(), source="Sloppy Lab"
    )
    db.session.commit()
    assert outcome.intel_import.tlp == "amber+strict" and outcome.intel_import.tlp_assumed
    assert outcome.matches and operations.restricted_evidence_ids(campaign_case)


EXPECTED_REASONS = {
    "not json": "not JSON",
    "not a bundle": "not a STIX bundle",
    "STIX 2.0 bundle": "'2.0' is not supported",
    "unknown spec_version": "spec_version '2.2'",
    "invalid STIX": "pattern",
    "no TLP marking": "no TLP marking",
    "oversize": "INTEL_MAX_BUNDLE_BYTES",
}


@pytest.mark.parametrize("case_name", sorted(BAD_INPUTS))
def test_bad_bundles_say_what_is_wrong(campaign_case: Any, actor_for: Any, case_name: str) -> None:
    bundle = _bundle_dict(campaign_case, actor_for("counsel"))
    with pytest.raises(InvalidInput, match=EXPECTED_REASONS[case_name]):
        stix.read_bundle(
            BAD_INPUTS[case_name](bundle), max_bytes=5 * 1024 * 1024, unmarked_policy="refuse"
        )


def test_restricted_intel_arriving_after_the_request_stays_out_of_the_packet(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    from compliance.packets.operations import request_packet
    from compliance.packets.tasks import build_packet
    from tests.packets.conftest import pdf_text

    counsel = actor_for("counsel")
    packet = request_packet(campaign_case, "takedown", counsel, draft=True)
    db.session.commit()
    operations.import_bundle(
        _red_bundle(campaign_case, counsel), Actor.cli_operator(), source="Nimbus Watch"
    )
    db.session.commit()

    result = build_packet(packet.id)
    assert result.packet.status == "stored", result.packet.failure_reason
    assert "Nimbus Watch" not in "".join(pdf_text(result.pdf))
