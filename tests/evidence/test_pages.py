"""Analysts on the case page: the Evidence tab, uploads, downloads with custody, the inbox."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.cases import readiness
from compliance.cases.operations import get_case
from compliance.evidence.models import CustodyEvent, DuplicateFlag, EvidenceItem
from compliance.extensions import db


def _upload(client, ref: str, **form) -> Any:
    """POST the case's evidence upload form (multipart) with these fields."""
    return client.post(f"/cases/{ref}/evidence", data=form, content_type="multipart/form-data")


def test_evidence_tab_shows_findings_files_custody_and_shared_subjects(
    login_as, post_findings, finding
):
    first = post_findings(finding(subjects=[{"type": "account", "id": "acct_shared"}])).json
    ref = first["results"][0]["case_ref"]
    get_case(ref).state = "dismissed"  # a closed case: the next finding opens a new one
    db.session.commit()
    second = post_findings(finding(subjects=[{"type": "account", "id": "acct_shared"}])).json
    new_ref = second["results"][0]["case_ref"]
    assert new_ref != ref
    _user, client = login_as("analyst")
    page = client.get(f"/cases/{new_ref}?tab=evidence")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "query fingerprint" in html and "query-fingerprint v2.3.1" in html
    assert "clusters.csv" in html and "collected" in html and "ingested" in html
    assert "acct_shared" in html and ref in html  # the other case sharing the subject
    assert "1,840,023" in html


def test_upload_preserves_a_file_and_a_correction_supersedes_it(login_as, make_case):
    user, client = login_as("analyst")
    case = make_case()
    response = _upload(
        client,
        case.ref,
        file=(io.BytesIO(b"screenshot v1"), "listing.png"),
        description="Marketplace",
    )
    assert response.status_code == 302
    original = db.session.scalar(select(EvidenceItem).where(EvidenceItem.case_id == case.id))
    assert original.source == f"uploaded by {user.name}"
    assert readiness.evidence_count(case) == 1
    response = _upload(
        client,
        case.ref,
        file=(io.BytesIO(b"screenshot v2, uncropped"), "listing-full.png"),
        description="Marketplace listing, full page",
        supersedes=str(original.id),
        reason="the first capture was cropped",
    )
    assert response.status_code == 302
    db.session.expire_all()
    items = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)).all()
    assert [i.supersedes_id for i in items] == [None, original.id]
    assert items[0].sha256 != items[1].sha256  # the original bytes are still kept
    assert [e.action for e in items[0].custody] == ["ingested", "superseded"]
    assert readiness.evidence_count(case) == 1  # the superseded one no longer counts
    html = client.get(f"/cases/{case.ref}?tab=evidence").get_data(as_text=True)
    assert "superseded" in html and "the first capture was cropped" in html


def test_upload_of_a_finding_file_attaches_its_findings_to_this_case(login_as, make_case, finding):
    _user, client = login_as("counsel")
    case = make_case()
    body = json.dumps([finding(), finding()]).encode()
    response = _upload(client, case.ref, file=(io.BytesIO(body), "findings.json"), is_finding="y")
    assert response.status_code == 302
    assert readiness.evidence_count(case) == 4  # two records, two attachments


def test_an_invalid_finding_upload_stores_nothing(login_as, make_case, finding, snapshot):
    _user, client = login_as("analyst")
    case = make_case()
    before = snapshot()
    body = json.dumps([finding(severity="apocalyptic")]).encode()
    response = client.post(
        f"/cases/{case.ref}/evidence",
        data={"file": (io.BytesIO(body), "findings.json"), "is_finding": "y"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Upload refused" in response.get_data(as_text=True)
    assert "severity" in response.get_data(as_text=True)
    assert snapshot() == before


def test_auditors_cannot_upload(login_as, make_case):
    _user, client = login_as("auditor")
    case = make_case()
    response = _upload(client, case.ref, file=(io.BytesIO(b"x"), "x.txt"), description="x")
    assert response.status_code == 403


def test_viewing_and_downloading_evidence_is_in_the_custody_chain_and_audited(
    login_as, post_findings, finding
):
    ref = post_findings(finding()).json["results"][0]["case_ref"]
    item = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id)).first()
    user, client = login_as("auditor")
    page = client.get(f"/cases/{ref}/evidence/{item.id}")
    assert page.status_code == 200 and item.sha256 in page.get_data(as_text=True)
    refused = client.post(f"/cases/{ref}/evidence/{item.id}/download", data={"purpose": ""})
    assert refused.status_code == 302  # no purpose, no download
    response = client.post(
        f"/cases/{ref}/evidence/{item.id}/download", data={"purpose": "annual audit sample"}
    )
    assert response.status_code == 200
    assert response.headers["X-Content-SHA256"] == item.sha256
    assert "attachment" in response.headers["Content-Disposition"]
    db.session.expire_all()
    events = db.session.scalars(
        select(CustodyEvent).where(CustodyEvent.item_id == item.id).order_by(CustodyEvent.id)
    ).all()
    assert [e.action for e in events] == ["collected", "ingested", "viewed", "downloaded"]
    assert events[-1].actor == f"user:{user.email}" and events[-1].purpose == "annual audit sample"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.downloaded"))
    assert audit.case_ref == ref and audit.details["sha256"] == item.sha256


def test_inbox_lists_new_cases_from_detectors(login_as, post_findings, finding, make_case):
    ref = post_findings(finding()).json["results"][0]["case_ref"]
    manual = make_case(title="Tip from a partner lab")
    _user, client = login_as("analyst")
    html = client.get("/findings/inbox").get_data(as_text=True)
    assert ref in html and manual.ref not in html
    assert "Findings inbox" in client.get("/").get_data(as_text=True)


def test_counsel_merges_a_flagged_duplicate_and_history_stays(login_as, post_findings, finding):
    older = post_findings(finding(subjects=[{"type": "api_key", "id": "sk-a"}])).json
    newer = post_findings(finding(subjects=[{"type": "api_key", "id": "sk-b"}])).json
    post_findings(
        finding(subjects=[{"type": "api_key", "id": "sk-a"}, {"type": "api_key", "id": "sk-b"}])
    )
    older_ref, newer_ref = older["results"][0]["case_ref"], newer["results"][0]["case_ref"]
    flag = db.session.scalar(select(DuplicateFlag))
    _user, client = login_as("counsel")
    assert "Possible duplicate" in client.get(f"/cases/{newer_ref}?tab=evidence").get_data(
        as_text=True
    )
    response = client.post(
        f"/cases/{newer_ref}/duplicates/{flag.id}",
        data={"decision": "merge", "note": "same key rotation operator"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    target, source = get_case(older_ref), get_case(newer_ref)
    assert source.state == "closed" and target.is_open
    assert readiness.evidence_count(target) == 6 and readiness.evidence_count(source) == 0
    assert db.session.get(DuplicateFlag, flag.id).status == "merged"
    history = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.case_ref == newer_ref)
    ).all()
    assert "finding.ingested" in history and "case.duplicate_resolved" in history
    # The merged findings are shown (their HTML is kept per process) with links to their new case.
    merged = client.get(f"/cases/{older_ref}?tab=evidence").get_data(as_text=True)
    assert merged.count('<article class="finding"') == 3
    assert f"/cases/{older_ref}/evidence/" in merged and f"/cases/{newer_ref}/" not in merged


def test_demo_ingests_the_samples_through_the_real_path(app, operator):
    from compliance.evidence.demo import load_samples
    from compliance.evidence.models import Finding

    lines: list[str] = []
    load_samples(lines.append)
    kinds = set(db.session.scalars(select(Finding.kind)))
    assert kinds == {
        "query_fingerprint",
        "rate_anomaly",
        "cot_elicitation",
        "coverage_sweep",
        "canary_hit",
        "account_linkage",
    }
    refs = {f.case.ref for f in db.session.scalars(select(Finding))}
    assert len(refs) == 4  # Lattice, rotation east, rotation west, Nimbus canary
    assert db.session.scalar(select(DuplicateFlag)).status == "open"
    again: list[str] = []
    load_samples(again.append)
    assert all("created" not in line and "attached" not in line for line in again)
