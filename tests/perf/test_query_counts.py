"""Pages run a fixed number of queries however much data a case or the log holds (no N+1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from compliance.extensions import db
from tests.conftest import count_queries


def _findings(case_number: int, start: int, count: int) -> list[dict]:
    begin = datetime(2026, 10, 1, tzinfo=UTC)
    return [
        {
            "schema": "distillation-finding/v1",
            "detector": {"name": "query-fingerprint", "version": "2.3.1"},
            "external_id": f"perf-{case_number}-{n:05d}",
            "kind": "query_fingerprint",
            "observed_from": (begin + timedelta(hours=n)).isoformat(),
            "observed_to": (begin + timedelta(hours=n + 6)).isoformat(),
            "confidence": 0.9,
            "severity": "high",
            "subjects": [
                {"type": "account", "id": f"acct_perf_{case_number}_{n}"},
                {"type": "payment_fingerprint", "id": "pf_perf_shared"},
            ],
            "summary": f"Finding {n} of the campaign.",
            "attachments": [
                {"name": f"clusters-{n}.csv", "media_type": "text/csv", "content_base64": "YSxi"}
            ],
        }
        for n in range(start, start + count)
    ]


def _add_findings(case, operator, start: int, count: int) -> None:
    from compliance.evidence.operations import ingest_findings

    ingest_findings(_findings(case.id, start, count), operator, channel="upload", into_case=case)
    db.session.commit()


def test_every_case_tab_keeps_its_query_count_as_the_case_grows(
    app, login_as, make_case, operator, actor_for
):
    """Each tab of the case page, with 2 then 12 findings (items, custody, subjects, notes)."""
    from compliance.cases import operations
    from compliance.cases.tabs import ordered_tabs

    _, client = login_as("counsel")
    case = make_case(title="Growing campaign")
    other = make_case(title="Sharing a payment fingerprint")
    _add_findings(other, operator, 1000, 1)
    _add_findings(case, operator, 0, 2)
    counsel = actor_for("counsel")
    operations.add_note(case, counsel, "first note")
    # A privileged note from the start: reading one is audited, a fixed cost on both sides.
    operations.add_note(case, counsel, "privileged from the start", privileged=True)
    db.session.commit()
    urls = [f"/cases/{case.ref}?tab={tab.key}" for tab in ordered_tabs()]
    small = {url: count_queries(client, url) for url in urls}
    _add_findings(case, operator, 2, 10)
    for n in range(5):
        operations.add_note(case, counsel, f"note {n}", privileged=n % 2 == 0)
    db.session.commit()
    large = {url: count_queries(client, url) for url in urls}
    assert small == large


def test_evidence_tab_shows_a_page_of_findings_with_the_totals(app, login_as, make_case, operator):
    """Past one page the tab pages findings; totals still count them all."""
    from compliance.evidence.views import TAB_PAGE

    _, client = login_as("analyst")
    case = make_case(title="Campaign with many findings")
    _add_findings(case, operator, 0, TAB_PAGE + 3)
    first = client.get(f"/cases/{case.ref}?tab=evidence").get_data(as_text=True)
    assert f'Findings <span class="muted">({TAB_PAGE + 3})</span>' in first
    assert first.count('<article class="finding"') == TAB_PAGE
    # Files page alongside (a record and an attachment per finding: 106 files, 3 pages).
    assert "Page 1 of 3" in first
    second = client.get(f"/cases/{case.ref}?tab=evidence&page=2").get_data(as_text=True)
    assert second.count('<article class="finding"') == 3
    # Newest first: the oldest finding is on the last page of findings.
    oldest = 'id="finding-1"'
    assert oldest in second and oldest not in first


def test_audit_view_keeps_its_query_count_as_the_log_grows(app, login_as, make_case, operator):
    from compliance.audit.chain import record

    _, client = login_as("auditor")
    case = make_case(title="Audited case")
    small = {url: count_queries(client, url) for url in ("/audit/", f"/audit/?case={case.ref}")}
    for n in range(120):
        record("bench.event", actor=operator, object_type="case", object_id=n, case=case)
    db.session.commit()
    before = client.get("/audit/").get_data(as_text=True)
    assert "before=" in before  # a second page exists now
    large = {url: count_queries(client, url) for url in ("/audit/", f"/audit/?case={case.ref}")}
    assert small == large
