"""Pages and API answers a user meets: errors, forms, filters, security headers."""

from __future__ import annotations

from compliance.cases.models import Case
from compliance.extensions import db


def test_unknown_case_is_a_404_page_and_a_json_error_under_api(app, login_as):
    _, client = login_as("analyst")
    page = client.get("/cases/DIST-2026-9999")
    assert page.status_code == 404 and b"no case DIST-2026-9999" in page.data
    api = client.get("/api/v1/cases/DIST-2026-9999")
    assert api.status_code == 404
    assert api.json["error"]["code"] == "not_found"


def test_anonymous_is_sent_to_login_and_api_gets_401_json(app, client, make_case):
    case = make_case()
    response = client.get(f"/cases/{case.ref}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    api = client.get("/api/v1/cases")
    assert api.status_code == 401 and api.json["error"]["code"] == "unauthorized"


def test_invalid_case_form_shows_errors_beside_fields(app, login_as):
    _, client = login_as("analyst")
    response = client.post(
        "/cases/new",
        data={
            "title": "",
            "severity": "high",
            "confidence": "1.7",
            "incident_start": "2026-10-18T00:00",
            "incident_end": "2026-10-01T00:00",
        },
    )
    assert response.status_code == 422
    assert b"This field is required" in response.data
    assert b"Number must be between 0 and 1" in response.data
    assert db.session.query(Case).count() == 0


def test_incident_window_backwards_is_refused_by_the_rule(app, login_as):
    _, client = login_as("analyst")
    response = client.post(
        "/cases/new",
        data={
            "title": "Window check",
            "severity": "high",
            "incident_start": "2026-10-18T00:00",
            "incident_end": "2026-10-01T00:00",
        },
    )
    assert response.status_code == 422
    assert b"cannot end before it starts" in response.data


def test_stale_edit_gets_409_and_is_not_applied(app, login_as, make_case):
    _, first = login_as("analyst")
    _, second = login_as("analyst")
    case = make_case()
    both_loaded = case.version  # both analysts opened the edit form at this version
    form = {"title": "Edited by the first analyst", "severity": "high", "version": both_loaded}
    assert first.post(f"/cases/{case.ref}/edit", data=form).status_code == 302
    stale = {"title": "Edited by the second analyst", "severity": "low", "version": both_loaded}
    response = second.post(f"/cases/{case.ref}/edit", data=stale)
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Case, case.id).title == "Edited by the first analyst"


def test_workflow_buttons_follow_the_role(app, login_as, make_case):
    case = make_case()
    _, analyst = login_as("analyst")
    _, auditor = login_as("auditor")
    assert b"Start triage" in analyst.get(f"/cases/{case.ref}").data
    auditor_page = auditor.get(f"/cases/{case.ref}").data
    assert b"Start triage" not in auditor_page and b"Dismiss" not in auditor_page
    forged = auditor.post(f"/cases/{case.ref}/transition", data={"target": "triage"})
    assert forged.status_code == 403
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "reported"


def test_refused_transition_explains_itself(app, login_as, make_case):
    case = make_case()
    _, analyst = login_as("analyst")
    analyst.post(f"/cases/{case.ref}/transition", data={"target": "triage"})
    response = analyst.post(
        f"/cases/{case.ref}/transition", data={"target": "investigating"}, follow_redirects=True
    )
    assert b"needs an owner" in response.data


def test_case_list_filters_by_state(app, login_as, make_case, operator):
    from compliance.cases.operations import transition_case

    triaged = make_case(title="Triaged campaign")
    make_case(title="Fresh report")
    transition_case(triaged, "triage", operator)
    db.session.commit()
    _, client = login_as("counsel")
    page = client.get("/cases/?state=triage").data
    assert b"Triaged campaign" in page and b"Fresh report" not in page


def test_security_headers_and_no_inline_script(app, login_as):
    _, client = login_as("analyst")
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in response.data


def test_login_next_cannot_redirect_off_site(app, client, make_user):
    user = make_user("analyst")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": user.email, "password": "correct horse battery staple"},
    )
    assert response.headers["Location"] == "/"


def test_repeated_failed_logins_slow_down_that_client_only(app, client, make_user):
    user = make_user("analyst")
    for _ in range(5):
        client.post("/login", data={"email": user.email, "password": "wrong password!!"})
    right = {"email": user.email, "password": "correct horse battery staple"}
    waiting = client.post("/login", data=right)
    assert waiting.status_code == 200 and b"Too many failed attempts from here" in waiting.data
    # The owner, from their own machine, is not locked out by someone else's guesses.
    elsewhere = app.test_client().post(
        "/login", data=right, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    assert elsewhere.status_code == 302


def test_api_lists_cases_with_a_read_token(app, client, make_case, operator):
    from compliance.auth.operations import create_token

    make_case(title="Visible through the API")
    _, raw = create_token(operator, "reporting script", ["read"])
    _, ingest_only = create_token(operator, "detector", ["ingest"])
    db.session.commit()
    response = client.get("/api/v1/cases?per_page=1", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 1 and body["items"][0]["title"] == "Visible through the API"
    assert "Set-Cookie" not in response.headers
    wrong_scope = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {ingest_only}"})
    assert wrong_scope.status_code == 403
    bad = client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    # A page number past any list is refused, not passed on as an OFFSET the database rejects.
    far = client.get(f"/api/v1/cases?page={10**18}", headers={"Authorization": f"Bearer {raw}"})
    assert far.status_code == 422 and "page" in far.json["error"]["message"]


def test_screens_show_an_empty_page_past_the_end(login_as, make_case):
    case = make_case()
    _user, client = login_as("analyst")
    far = 10**20
    for url in (
        f"/cases/?page={far}",
        f"/cases/?owner={far}",
        f"/cases/{case.ref}?tab=evidence&page={far}",
        f"/notifications?page={far}",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get(f"/cases/{case.ref}/evidence/{far}").status_code == 404
    auditor_client = login_as("auditor")[1]
    assert auditor_client.get(f"/audit/?before={far}").status_code == 200


def test_timeline_shows_findings_steps_and_packets_in_order(app, login_as, operator):
    from compliance.cases.operations import transition_case
    from compliance.evidence.operations import ingest_findings

    finding = {
        "schema": "distillation-finding/v1",
        "detector": {"name": "rate-anomaly", "version": "4.1.2"},
        "external_id": "ra-timeline-1",
        "kind": "rate_anomaly",
        "observed_from": "2026-10-01T00:00:00Z",
        "observed_to": "2026-10-03T00:00:00Z",
        "confidence": 0.8,
        "severity": "medium",
        "subjects": [{"type": "api_key", "id": "sk-timeline-1"}],
        "summary": "Machine-regular request timing from rotated keys.",
    }
    (outcome,) = ingest_findings([finding], operator, channel="cli")
    case = db.session.scalar(db.select(Case).where(Case.ref == outcome.case_ref))
    transition_case(case, "triage", operator)
    db.session.commit()
    _, client = login_as("analyst")
    page = client.get(f"/cases/{case.ref}?tab=timeline").data.decode()
    assert "<svg" in page and "rate anomaly finding by rate-anomaly 4.1.2" in page
    listing = page[page.index('<ol class="timeline">') :]
    assert listing.index("rate anomaly finding") < listing.index("reported → triage")


def test_the_hold_form_does_what_its_page_offered(login_as, make_case):
    """Two people submit the same "place hold" page: the second finds it done, not undone."""
    from compliance.cases.operations import get_case

    case = make_case()
    _user, client = login_as("counsel")
    page = client.get(f"/cases/{case.ref}").get_data(as_text=True)
    assert 'name="action" type="hidden" value="place"' in page
    form = {"action": "place", "reason": "Litigation anticipated"}
    assert client.post(f"/cases/{case.ref}/hold", data=form).status_code == 302
    assert client.post(f"/cases/{case.ref}/hold", data=form).status_code == 409
    db.session.expire_all()
    assert get_case(case.ref).legal_hold
    released = {"action": "release", "reason": "Matter settled"}
    assert client.post(f"/cases/{case.ref}/hold", data=released).status_code == 302
    db.session.expire_all()
    assert not get_case(case.ref).legal_hold
