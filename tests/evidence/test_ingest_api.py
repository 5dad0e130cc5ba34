"""A detector sends findings over the API: they become preserved evidence in the right case."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.auth.operations import create_token, revoke_token
from compliance.evidence.models import CustodyEvent, EvidenceItem, Finding
from compliance.extensions import db


def test_a_new_finding_opens_a_reported_case_with_preserved_evidence(post_findings, finding, app):
    body = finding()
    response = post_findings(body)
    assert response.status_code == 201, response.json
    [result] = response.json["results"]
    assert result["status"] == "created" and result["index"] == 0
    stored = db.session.get(Finding, result["finding_id"])
    case = stored.case
    assert case.ref == result["case_ref"] and case.state == "reported"
    assert case.severity == "high" and case.confidence == pytest.approx(0.93)
    assert case.estimated_queries == 1840023
    assert case.incident_start.isoformat() == "2026-10-01T00:00:00+00:00"
    assert case.created_by == "token:query-fingerprint detector"
    items = {i.role: i for i in stored.items}
    assert set(items) == {"finding_record", "attachment"}
    assert items["attachment"].size_bytes == len(b"cluster,accounts\nc1,212\n")
    actions = [e.action for e in items["finding_record"].custody]
    assert actions == ["collected", "ingested"]
    collected = items["finding_record"].custody[0]
    assert collected.actor == "detector:query-fingerprint/2.3.1"
    assert collected.occurred_at.isoformat() == "2026-10-18T23:59:59+00:00"
    audit = db.session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case.id))
    assert {"case.created", "finding.ingested"} <= set(audit)


def test_resending_the_same_finding_is_idempotent(post_findings, finding, snapshot):
    body = finding()
    first = post_findings(body)
    before = snapshot()
    again = post_findings(body)
    assert again.status_code == 200
    assert again.json["results"][0]["status"] == "duplicate"
    assert again.json["results"][0]["finding_id"] == first.json["results"][0]["finding_id"]
    assert snapshot() == before


def test_same_key_with_different_content_is_a_conflict(post_findings, finding, snapshot):
    body = finding()
    post_findings(body)
    before = snapshot()
    changed = dict(body, confidence=0.5)
    response = post_findings(changed)
    assert response.status_code == 409
    assert response.json["error"]["details"][0]["field"] == "external_id"
    assert snapshot() == before


def test_batch_joins_cases_by_shared_subject_and_a_batch_is_one_transaction(post_findings, finding):
    first = finding(subjects=[{"type": "account", "id": "acct_1"}])
    second = finding(
        subjects=[{"type": "account", "id": "acct_1"}, {"type": "org", "id": "Acme Labs"}],
        observed_to="2026-11-02T00:00:00Z",
    )
    unrelated = finding(subjects=[{"type": "email_domain", "id": "Student-Models.example"}])
    response = post_findings([first, second, unrelated])
    assert response.status_code == 201
    results = response.json["results"]
    assert [r["status"] for r in results] == ["created", "attached", "created"]
    assert results[0]["case_ref"] == results[1]["case_ref"] != results[2]["case_ref"]
    case = db.session.get(Finding, results[0]["finding_id"]).case
    # Joining widened the case's incident window to the later finding.
    assert case.incident_end.isoformat() == "2026-11-02T00:00:00+00:00"


def test_a_finding_linking_two_open_cases_joins_the_older_and_flags_the_newer(
    post_findings, finding
):
    older = post_findings(finding(subjects=[{"type": "api_key", "id": "sk-old"}])).json
    newer = post_findings(finding(subjects=[{"type": "ip_prefix", "id": "198.51.100.0/24"}])).json
    bridge = finding(
        subjects=[
            {"type": "api_key", "id": "sk-old"},
            {"type": "ip_prefix", "id": "198.51.100.7/24"},
        ]
    )
    response = post_findings(bridge)
    [result] = response.json["results"]
    assert result["status"] == "attached"
    assert result["case_ref"] == older["results"][0]["case_ref"]
    from compliance.evidence.models import DuplicateFlag

    [flag] = db.session.scalars(select(DuplicateFlag)).all()
    assert flag.case.ref == newer["results"][0]["case_ref"]
    assert flag.duplicate_of.ref == older["results"][0]["case_ref"]
    assert flag.shared_subjects == ["ip_prefix:198.51.100.0/24"]
    assert flag.status == "open"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"kind": "vibes"}, "kind"),
        ({"severity": "urgent"}, "severity"),
        ({"observed_from": "2026-10-01T00:00:00"}, "observed_from"),
        ({"observed_from": 1760000000}, "observed_from"),
        # A rule across two fields names both: either may be the wrong one.
        ({"observed_from": "2026-10-30T00:00:00Z"}, ("observed_from", "observed_to")),
        ({"confidence": 1.2}, "confidence"),
        ({"confidence": "0.9"}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"subjects": []}, "subjects"),
        ({"subjects": [{"type": "phone", "id": "1"}]}, "subjects.0.type"),
        ({"subjects": [{"type": "ip_prefix", "id": "203.0.113.300/24"}]}, "subjects.0.id"),
        ({"subjects": [{"type": "email_domain", "id": "not a domain"}]}, "subjects.0.id"),
        ({"external_id": "has spaces"}, "external_id"),
        ({"schema": "distillation-finding/v2"}, "schema"),
        (
            {"attachments": [{"name": "a.csv", "media_type": "text/csv", "content_base64": "%%"}]},
            "attachments.0.content_base64",
        ),
        (
            {
                "attachments": [
                    {"name": "../etc/passwd", "media_type": "text/plain", "content_base64": "eA=="}
                ]
            },
            "attachments.0.name",
        ),
        ({"metrics": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}, "metrics"),
    ],
)
def test_invalid_findings_are_rejected_with_field_level_messages_and_nothing_is_stored(
    post_findings, finding, snapshot, change, field
):
    before = snapshot()
    response = post_findings([finding(), finding(**change)])
    assert response.status_code == 422, response.json
    details = response.json["error"]["details"]
    fields = field if isinstance(field, tuple) else (field,)
    assert {(d["index"], d["field"]) for d in details} == {(1, name) for name in fields}
    assert snapshot() == before


def test_rejected_batch_is_audited_once(post_findings, finding):
    post_findings([finding(kind="nope")])
    events = db.session.scalars(select(AuditEvent)).all()
    rejected = [e for e in events if e.action == "finding.batch_rejected"]
    assert len(rejected) == 1
    assert rejected[0].actor == "token:query-fingerprint detector"
    assert rejected[0].details["problems"][0]["field"] == "kind"


def test_duplicate_external_id_inside_one_batch_is_rejected(post_findings, finding, snapshot):
    body = finding()
    before = snapshot()
    response = post_findings([body, dict(body)])
    assert response.status_code == 422
    assert response.json["error"]["details"] == [
        {
            "index": 1,
            "field": "external_id",
            "message": "repeats item 0 of this batch (same detector and external_id)",
        }
    ]
    assert snapshot() == before


def test_empty_array_is_422(post_findings, snapshot):
    before = snapshot()
    assert post_findings([]).status_code == 422
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # The whole body is not a finding: the root, "", with no item index.
        (None, [(None, "")]),
        (42, [(None, "")]),
        ("a finding", [(None, "")]),
        ([], [(None, "")]),
        # Items that are not objects: the root of each item.
        ([[]], [(0, "")]),
        ([[], 7], [(0, ""), (1, "")]),
    ],
    ids=["null", "number", "string", "empty array", "array of arrays", "array of non-objects"],
)
def test_whole_body_and_whole_item_errors_point_at_the_root(
    post_findings, snapshot, body, expected
):
    """`field` is a dotted path everywhere; "" (the root) when the whole body or item is wrong."""
    before = snapshot()
    response = post_findings(None, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422, response.json
    details = response.json["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == expected
    assert all(d["message"] for d in details)
    assert snapshot() == before


def test_the_cli_names_the_root_and_both_fields_of_a_window_the_same_way(app, finding, tmp_path):
    from tests.security.helpers import run_cli

    backwards = tmp_path / "backwards.json"
    backwards.write_text(json.dumps([finding(observed_from="2026-10-30T00:00:00Z"), 5]))
    result = run_cli(app, "ingest", str(backwards))
    assert result.exit_code == 2
    assert "item 0: observed_from: observed_from is after observed_to" in result.output
    assert "item 0: observed_to: observed_from is after observed_to" in result.output
    assert "item 1: (root): must be an object" in result.output


def test_malformed_json_wrong_type_and_oversize_bodies(app, post_findings, snapshot):
    before = snapshot()
    bad_json = post_findings(None, data=b"{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json["error"]["code"] == "malformed_json"
    wrong_type = post_findings(None, data=b"{}", content_type="text/plain")
    assert (
        wrong_type.status_code == 415 and "application/json" in wrong_type.json["error"]["message"]
    )
    app.config["MAX_CONTENT_LENGTH"] = 1024
    huge = post_findings(None, data=b"[" + b" " * 2048 + b"]", content_type="application/json")
    assert huge.status_code == 413 and huge.json["error"]["code"] == "too_large"
    assert snapshot()[1] == before[1]
    assert {k: v for k, v in snapshot()[0].items()} == before[0]


def test_oversize_attachment_is_rejected(app, post_findings, finding, snapshot):
    app.config["MAX_ATTACHMENT_BYTES"] = 100
    before = snapshot()
    big = base64.b64encode(b"x" * 101).decode()
    response = post_findings(
        finding(
            attachments=[
                {"name": "big.bin", "media_type": "application/octet-stream", "content_base64": big}
            ]
        )
    )
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "attachments.0.content_base64"
    assert "limit of 100 bytes" in response.json["error"]["details"][0]["message"]
    assert snapshot() == before


def test_token_problems_are_401_or_403_json(app, client, operator, finding, post_findings):
    missing = client.post("/api/v1/findings", json=finding())
    assert missing.status_code == 401 and missing.json["error"]["code"] == "unauthorized"
    invalid = post_findings(finding(), token="cmp_not-a-token")
    assert invalid.status_code == 401
    token, raw_read = create_token(operator, "dashboard reader", ["read"])
    db.session.commit()
    assert post_findings(finding(), token=raw_read).status_code == 403
    token, raw = create_token(operator, "old detector", ["ingest"])
    db.session.commit()
    revoke_token(operator, token.id)
    db.session.commit()
    revoked = post_findings(finding(), token=raw)
    assert revoked.status_code == 401 and "revoked" in revoked.json["error"]["message"]
    assert db.session.scalar(select(Finding.id)) is None


def test_token_last_use_is_recorded(app, post_findings, finding, operator):
    from compliance.auth.models import ApiToken

    post_findings(finding())
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "query-fingerprint detector"))
    assert token.last_used_at is not None


def test_case_evidence_endpoint_lists_items_with_custody(
    client, post_findings, finding, ingest_token
):
    ref = post_findings(finding()).json["results"][0]["case_ref"]
    response = client.get(
        f"/api/v1/cases/{ref}/evidence", headers={"Authorization": f"Bearer {ingest_token}"}
    )
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 2 and body["next"] is None
    record = body["items"][0]
    assert record["role"] == "finding_record" and len(record["sha256"]) == 64
    assert record["finding"]["detector"] == {"name": "query-fingerprint", "version": "2.3.1"}
    assert [c["action"] for c in record["custody"]] == ["collected", "ingested"]


def test_openapi_document_covers_every_api_endpoint_and_the_finding_schema(app, client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    api_rules = {
        r.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1/")
    }
    assert api_rules == set(doc["paths"])
    finding_schema = doc["components"]["schemas"]["Finding"]
    assert finding_schema["additionalProperties"] is False
    assert set(finding_schema["properties"]["kind"]["enum"]) == {
        "query_fingerprint",
        "rate_anomaly",
        "cot_elicitation",
        "coverage_sweep",
        "canary_hit",
        "account_linkage",
    }
    post = doc["paths"]["/api/v1/findings"]["post"]
    assert {"201", "200", "400", "401", "403", "409", "413", "415", "422"} <= set(post["responses"])


def test_custody_events_cannot_be_rewritten(post_findings, finding):
    post_findings(finding())
    event = db.session.scalars(select(CustodyEvent)).first()
    event.purpose = "rewritten history"
    with pytest.raises(Exception, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_stored_blobs_are_read_only_and_match_their_hash(app, post_findings, finding):
    import hashlib

    from compliance.evidence.store import blob_store

    post_findings(finding())
    items = db.session.scalars(select(EvidenceItem)).all()
    store = blob_store()
    # The batch's blobs (record and attachment) went into one pack named by its own hash.
    (pack,) = store.packs.iterdir()
    assert pack.stat().st_mode & 0o222 == 0
    assert pack.name == hashlib.sha256(pack.read_bytes()).hexdigest() + ".pack"
    for item in items:
        assert hashlib.sha256(store.get(item.sha256)).hexdigest() == item.sha256
        assert store.check(item.sha256) == "ok"
