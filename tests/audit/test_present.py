"""Audit events for people: no Python reprs in the Audit tab, the trail or the PDF report."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from compliance.audit.chain import record
from compliance.cases import operations
from compliance.extensions import db
from compliance.trail.present import format_stamp, present_events, word_diff

# What raw Python data looks like on a page: reprs of None/booleans/lists/dicts, microseconds.
REPRS = re.compile(r"\bNone\b|\bFalse\b|\bTrue\b|\['|\{'|\d{2}:\d{2}:\d{2}\.\d{3,6}|∅")
RAW_BLOCK = re.compile(r'<details class="raw">.*?</details>', re.S)


def _reprs(html: str) -> list[str]:
    """Python reprs in the page outside the raw-record disclosures (which hold JSON)."""
    return REPRS.findall(RAW_BLOCK.sub("", html))


def _rich_history(make_case, make_user, operator):
    """A case whose trail holds every kind of value: ids, booleans, nulls, lists, long text."""
    owner = make_user("analyst", name="Priya Natarajan")
    case = make_case(title="Templated prompts", summary="Short.")
    operations.update_case(
        case,
        operator,
        {
            "owner_id": owner.id,
            "targeted_domains": ["coding", "mathematics"],
            "summary": "Two hundred accounts sent templated coding prompts " * 4,
            "incident_start": datetime(2026, 10, 1, 8, 30, 15, 123456, tzinfo=UTC),
        },
    )
    operations.update_case(
        case, operator, {"summary": "Two hundred and twelve accounts sent templated prompts " * 4}
    )
    operations.place_hold(case, operator, "Litigation expected")
    record(
        "test.details",
        actor=operator,
        object_type="case",
        object_id=case.id,
        case=case,
        details={"flags": {"content_sha256": "ab" * 32, "retry": False}, "note": None},
        changes={"legal_hold": {"before": False, "after": True}},
    )
    db.session.commit()
    return case, owner


def test_case_audit_tab_and_trail_show_values_for_people(
    app, make_case, make_user, operator, login_as
):
    case, owner = _rich_history(make_case, make_user, operator)
    _, client = login_as("auditor")
    for url in (f"/cases/{case.ref}?tab=audit", "/audit/", f"/audit/?case={case.ref}"):
        html = client.get(url).get_data(as_text=True)
        assert _reprs(html) == [], url
        assert "Priya Natarajan" in html  # owner_id resolved to a name ...
        assert f"/cases/?owner={owner.id}" in html  # ... and a link to their cases
        assert "2026-10-01 08:30:15 UTC" in html  # a date to the second
        assert "coding, mathematics" in html  # a list as words
        assert "<ins>" in html and "<del>" in html  # long text as a word diff
        assert "yes" in html and "no" in html  # booleans
        assert "content sha256" in html  # an object as key/value lines
        assert '<details class="raw">' in html and "&#34;owner_id&#34;" in html  # the raw record


def test_audit_pdf_report_has_no_python_reprs(app, make_case, make_user, operator, login_as):
    from pypdf import PdfReader

    case, _owner = _rich_history(make_case, make_user, operator)
    _, client = login_as("auditor")
    response = client.post("/audit/export", data={"format": "pdf", "case": case.ref})
    assert response.status_code == 200
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "Priya Natarajan" in text and "2026-10-01 08:30:15 UTC" in text
    # The one line that names Python on purpose: how a verifier recomputes each hash.
    text = re.sub(r"Hash of each event: sha256\(.*?\)\)\.", "", text, flags=re.S)
    assert REPRS.findall(text) == []


def test_values_render_by_type(app, make_user, operator):
    user = make_user("counsel", name="Casey Lindqvist")
    events = present_events(
        [
            {
                "seq": 1,
                "occurred_at": "2026-11-02T10:11:12.654321Z",
                "actor": user.actor_label,
                "action": "x",
                "object_type": "case",
                "object_id": "1",
                "case_ref": None,
                "changes": {"owner_id": {"before": None, "after": user.id}},
                "details": {"approved_actions": ["takedown"], "count": 12345, "ok": True},
            }
        ]
    )
    [event] = events
    assert event.when == "2026-11-02 10:11:12 UTC"
    assert str(event.actor) == "Casey Lindqvist"  # no links in the PDF (no url builder)
    [owner] = event.changes
    assert owner.label == "owner" and "—" in owner.before and "Casey Lindqvist" in owner.after
    details = {line.label: str(line.after) for line in event.details}
    assert details == {"approved actions": "takedown", "count": "12,345", "ok": "yes"}
    assert format_stamp(None) == "—"
    diffed = str(word_diff("the quick brown fox", "the slow brown fox"))
    assert "<del>quick</del><ins>slow</ins>" in diffed
