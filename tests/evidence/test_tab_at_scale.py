"""The Evidence and Intel tabs of a campaign-sized case: counts first, one page of each list."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from compliance.actor import Actor
from compliance.cases.models import CaseSubject
from compliance.cases.operations import get_case
from compliance.evidence.models import Finding
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db
from tests.scale import grow_case


def test_grow_case_adds_findings_and_subjects_through_ingest(app, make_case):
    case = make_case(title="Campaign")
    grow_case(case.ref, findings=30, subjects=240)
    assert db.session.scalar(select(func.count()).where(Finding.case_id == case.id)) == 30
    assert db.session.scalar(select(func.count()).where(CaseSubject.case_id == case.id)) == 240


def test_evidence_tab_summarises_filters_and_pages(
    app, make_case, login_as, post_findings, finding
):
    case = make_case(title="Campaign")
    grow_case(case.ref, findings=60, subjects=240)
    # One subject also named by another case: it is listed first.
    shared = finding(subjects=[{"type": "org", "id": "org_shared_campaign"}])
    other_ref = post_findings(shared).json["results"][0]["case_ref"]
    ingest_findings(
        [finding(subjects=[{"type": "org", "id": "org_shared_campaign"}])],
        Actor.cli_operator(),
        channel="cli",
        into_case=get_case(case.ref),
    )
    db.session.commit()
    _, client = login_as("analyst")
    html = client.get(f"/cases/{case.ref}?tab=evidence").get_data(as_text=True)
    summary = html.split('aria-label="Evidence summary"')[1].split("</section>")[0]
    assert "61</strong> findings" in summary and "241</strong> subjects" in summary
    assert "1</strong> shared with other cases" in summary
    assert "query fingerprint" in summary and "account" in summary
    # The upload form sits at the top, behind a button.
    assert html.index("upload-disclosure") < html.index("<h2>Findings")
    rows = re.findall(r"<tr><td>[^<]*</td><td><code", html.split('id="subjects"')[1])
    assert len(rows) == 25  # one page of subjects
    first_row = html.split('<table class="subjects">')[1].split("</tr>", 2)[1]
    assert "org_shared_campaign" in first_row and other_ref in first_row
    assert "Subjects page 1 of 10" in html

    by_kind = client.get(f"/cases/{case.ref}?tab=evidence&kind=canary_hit").get_data(as_text=True)
    assert by_kind.count('<article class="finding"') == 10  # 60 grown findings, 6 kinds
    assert "Findings: canary hit" in by_kind

    by_type = client.get(f"/cases/{case.ref}?tab=evidence&subject_type=api_key&subject_page=1")
    text = by_type.get_data(as_text=True)
    assert "Subjects: api key" in text
    listed = text.split('id="subjects"')[1]
    assert "api_key_" in listed and "account_" not in listed
    last = client.get(f"/cases/{case.ref}?tab=evidence&subject_page=10").get_data(as_text=True)
    assert len(re.findall(r"<tr><td>[^<]*</td><td><code", last.split('id="subjects"')[1])) == 16


def test_intel_share_form_groups_subjects_with_select_all_and_counts(app, make_case, login_as):
    case = make_case(title="Campaign")
    grow_case(case.ref, findings=12, subjects=120)
    _, client = login_as("counsel")
    html = client.get(f"/cases/{case.ref}?tab=intel").get_data(as_text=True)
    form = html.split('<details class="disclosure share-disclosure')[1]
    # Every group (each subject type present, the findings) has its own select-all.
    assert form.count("data-select-all") == form.count("data-choice-group") >= 3
    assert "Select all account" in form and "Select all findings (12)" in form
    # Hashed types are selected by default; in-clear types (IP prefixes, e-mail domains) not.
    checked = len(re.findall(r'name="subjects" value="\d+" checked', form))
    total = len(re.findall(r'name="subjects" value="\d+"', form))
    assert total == 120 and 0 < checked < total
    assert f"{checked} of 120 selected" in re.sub(r"<[^>]+>", "", form)
