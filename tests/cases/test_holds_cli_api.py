"""Legal holds from scripts: the CLI and the API place and release them as the web form does.

Holds are among the most audited legal acts: whichever door counsel uses, the same operation
runs, the same `hold.placed` / `hold.released` events are written with the reason, and only
counsel may act. The API accepts a signed-in session (with CSRF) and no token at all.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.auth.operations import create_token
from compliance.extensions import db
from tests.security.helpers import run_cli


def _hold_events(case) -> list[tuple[str, str, str]]:
    db.session.commit()  # end this session's snapshot: see what the commands wrote
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action.like("hold.%"))
        .order_by(AuditEvent.seq)
    ).all()
    return [(e.action, e.actor, e.details["reason"]) for e in rows]


def test_counsel_places_and_releases_a_hold_from_the_command_line(app, make_case, make_user):
    counsel = make_user("counsel")
    analyst = make_user("analyst")
    case = make_case()
    db.session.commit()

    refused = run_cli(app, "case", "hold", case.ref, "--reason", "x", "--as", analyst.email)
    assert refused.exit_code != 0 and "hold.manage" in refused.output
    no_reason = run_cli(app, "case", "hold", case.ref, "--reason", " ", "--as", counsel.email)
    assert no_reason.exit_code != 0 and "needs a reason" in no_reason.output

    placed = run_cli(
        app, "case", "hold", case.ref, "--reason", "Suit anticipated", "--as", counsel.email
    )
    assert placed.exit_code == 0, placed.output
    assert f"{case.ref}: legal hold placed" in placed.output
    again = run_cli(app, "case", "hold", case.ref, "--reason", "again", "--as", counsel.email)
    assert again.exit_code != 0 and "already under legal hold" in again.output
    released = run_cli(
        app, "case", "release", case.ref, "--reason", "Settled", "--as", counsel.email
    )
    assert released.exit_code == 0, released.output

    label = f"user:{counsel.email}"
    assert _hold_events(case) == [
        ("hold.placed", label, "Suit anticipated"),
        ("hold.released", label, "Settled"),
    ]


def test_the_api_hold_writes_what_the_web_form_writes(app, make_case, login_as):
    case = make_case()
    other = make_case()
    user, client = login_as("counsel")

    form = client.post(
        f"/cases/{other.ref}/hold", data={"action": "place", "reason": "Suit anticipated"}
    )
    assert form.status_code == 302
    response = client.post(f"/api/v1/cases/{case.ref}/hold", json={"reason": "Suit anticipated"})
    assert response.status_code == 200, response.json
    assert response.json["legal_hold"] is True
    assert response.json["legal_hold_reason"] == "Suit anticipated"
    label = f"user:{user.email}"
    assert _hold_events(case) == _hold_events(other) == [("hold.placed", label, "Suit anticipated")]

    conflict = client.post(f"/api/v1/cases/{case.ref}/hold", json={"reason": "again"})
    assert conflict.status_code == 409 and conflict.json["error"]["code"]
    released = client.post(f"/api/v1/cases/{case.ref}/release", json={"reason": "Settled"})
    assert released.status_code == 200 and released.json["legal_hold"] is False
    assert _hold_events(case)[-1] == ("hold.released", label, "Settled")


def test_the_api_refuses_holds_without_a_reason_a_role_or_a_person(
    app, make_case, login_as, operator
):
    case = make_case()
    _, counsel = login_as("counsel")
    for body in ({}, {"reason": ""}, {"reason": 3}, {"reason": "ok", "extra": 1}):
        response = counsel.post(f"/api/v1/cases/{case.ref}/hold", json=body)
        assert response.status_code == 422, body
    malformed = counsel.post(
        f"/api/v1/cases/{case.ref}/hold", data="{", content_type="application/json"
    )
    assert malformed.status_code == 400
    form_encoded = counsel.post(f"/api/v1/cases/{case.ref}/hold", data={"reason": "x"})
    assert form_encoded.status_code == 415

    _, analyst = login_as("analyst")
    assert analyst.post(f"/api/v1/cases/{case.ref}/hold", json={"reason": "x"}).status_code == 403
    # No token opens holds, whatever its scopes: a hold is signed by a person.
    _, raw = create_token(operator, "case script", ["read", "ingest"])
    db.session.commit()
    by_token = app.test_client().post(
        f"/api/v1/cases/{case.ref}/hold",
        json={"reason": "x"},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert by_token.status_code == 403 and "token cannot" in by_token.json["error"]["message"]
    assert app.test_client().post(f"/api/v1/cases/{case.ref}/hold").status_code == 401
    assert _hold_events(case) == []


def test_a_session_hold_needs_the_csrf_token(app, make_case, login_as):
    case = make_case()
    _, client = login_as("counsel")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        forged = client.post(f"/api/v1/cases/{case.ref}/hold", json={"reason": "x"})
        assert forged.status_code == 400
        page = client.get(f"/cases/{case.ref}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        real = client.post(
            f"/api/v1/cases/{case.ref}/hold",
            json={"reason": "Suit anticipated"},
            headers={"X-CSRFToken": token},
        )
        assert real.status_code == 200, real.json
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_the_openapi_document_lists_hold_and_release_as_session_only(app, client):
    document = client.get("/api/v1/openapi.json").json
    for act in ("hold", "release"):
        operation = document["paths"][f"/api/v1/cases/{{ref}}/{act}"]["post"]
        assert operation["security"] == [{"session": []}]
        assert operation["x-required-permission"] == "hold.manage"
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/HoldRequest"
        }
        assert {"401", "403", "409", "422"} <= set(operation["responses"])
    assert document["components"]["schemas"]["HoldRequest"]["required"] == ["reason"]
