"""Opening and editing a case through the API: a signed-in person, never a token.

`POST /api/v1/cases` and `PATCH /api/v1/cases/<ref>` run the web form's operations; their
errors name each field by its dotted path ("" for the whole body).
"""

from __future__ import annotations

import json

from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.auth.operations import create_token
from compliance.cases.models import Case
from compliance.extensions import db


def test_a_signed_in_analyst_opens_and_edits_a_case(app, login_as, make_user):
    analyst, client = login_as("analyst")
    created = client.post(
        "/api/v1/cases",
        json={"title": "Templated prompts from 212 accounts", "severity": "high"},
    )
    assert created.status_code == 201, created.json
    ref = created.json["ref"]
    assert created.headers["Location"] == f"/api/v1/cases/{ref}"
    assert created.json["state"] == "reported" and created.json["created_at"]

    edited = client.patch(
        f"/api/v1/cases/{ref}",
        json={
            "owner": analyst.email,
            "summary": "212 accounts swept coding prompts.",
            "jurisdiction": "US (N.D. Cal.)",
            "version": created.json["version"],
        },
    )
    assert edited.status_code == 200, edited.json
    assert edited.json["owner"] == analyst.email
    assert edited.json["summary"] == "212 accounts swept coding prompts."
    assert edited.json["severity"] == "high"  # fields not sent stay as they were
    assert edited.json["version"] > created.json["version"]
    case = db.session.scalar(select(Case).where(Case.ref == ref))
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq.desc())
    )
    assert event.action == "case.updated" and event.actor == f"user:{analyst.email}"

    unassigned = client.patch(f"/api/v1/cases/{ref}", json={"owner": None})
    assert unassigned.status_code == 200 and unassigned.json["owner"] is None


def test_a_stale_version_is_a_409(app, login_as, make_case):
    case = make_case(title="Original")
    _, client = login_as("counsel")
    read = client.get(f"/api/v1/cases/{case.ref}").json["version"]
    assert client.patch(f"/api/v1/cases/{case.ref}", json={"title": "Theirs"}).status_code == 200
    stale = client.patch(f"/api/v1/cases/{case.ref}", json={"title": "Mine", "version": read})
    assert stale.status_code == 409 and stale.json["error"]["code"] == "conflict"
    assert client.get(f"/api/v1/cases/{case.ref}").json["title"] == "Theirs"


def test_tokens_and_roles_without_the_right_are_refused(app, login_as, make_case, operator):
    case = make_case()
    _, raw = create_token(operator, "a script", ["read", "ingest"])
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    for method, url in (("post", "/api/v1/cases"), ("patch", f"/api/v1/cases/{case.ref}")):
        response = app.test_client().open(url, method=method, json={"title": "x"}, headers=headers)
        assert (
            response.status_code == 403
            and "a token cannot do this" in (response.json["error"]["message"])
        )
    _, auditor = login_as("auditor")
    assert auditor.patch(f"/api/v1/cases/{case.ref}", json={"title": "x"}).status_code == 403
    anonymous = app.test_client().patch(f"/api/v1/cases/{case.ref}", json={"title": "x"})
    assert anonymous.status_code == 401


def test_errors_name_each_field_and_the_root(app, login_as, make_case, make_user):
    case = make_case()
    auditor = make_user("auditor")
    _, client = login_as("analyst")

    def fields(body) -> set[str]:  # noqa: ANN001
        response = client.patch(
            f"/api/v1/cases/{case.ref}", data=json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 422, response.json
        return {d["field"] for d in response.json["error"]["details"]}

    assert fields({"confidence": "0.9"}) == {"confidence"}  # strict: no coercion
    assert fields({"targeted_domains": ["coding", "poetry"]}) == {"targeted_domains.1"}
    assert fields({"surprise": 1}) == {"surprise"}
    assert fields({"owner": auditor.email}) == {"owner"}
    # A rule across two fields names both.
    assert fields(
        {"incident_start": "2026-10-18T00:00:00Z", "incident_end": "2026-10-01T00:00:00Z"}
    ) == {"incident_start", "incident_end"}
    # The whole body is the root: "".
    for body in (None, 3, "title", [], [[]]):
        assert fields(body) == {""}, body
    assert fields({}) == {""}  # nothing to change
    # Query parameters too: each bad one is named.
    listed = client.get("/api/v1/cases?page=0&per_page=lots")
    assert listed.status_code == 422
    assert [d["field"] for d in listed.json["error"]["details"]] == ["page", "per_page"]
    created = client.post("/api/v1/cases", json={"severity": "high"})
    assert created.status_code == 422
    assert [d["field"] for d in created.json["error"]["details"]] == ["title"]


def test_the_openapi_document_describes_the_new_endpoints(app, client):
    document = client.get("/api/v1/openapi.json").json
    create = document["paths"]["/api/v1/cases"]["post"]
    edit = document["paths"]["/api/v1/cases/{ref}"]["patch"]
    for operation, model in ((create, "CaseCreate"), (edit, "CaseEdit")):
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
        assert operation["security"] == [{"session": []}]  # no token scope grants it
        assert {"401", "403", "422"} <= set(operation["responses"])
    assert "409" in edit["responses"]
    properties = document["components"]["schemas"]["CaseEdit"]["properties"]
    assert {"owner", "summary", "suspected_actor", "jurisdiction", "version"} <= set(properties)
    assert document["components"]["schemas"]["CaseCreate"]["required"] == ["title"]
