"""The audit page: filters, chain status, verification on demand, permissions."""

from __future__ import annotations

from compliance.extensions import db
from compliance.trail.checkpoints import write_checkpoint


def test_filters_and_status(app, make_case, login_as, operator):
    first, second = make_case(title="First"), make_case(title="Second")
    write_checkpoint(operator)
    db.session.commit()
    _, client = login_as("auditor")
    page = client.get(f"/audit/?case={first.ref}").data.decode()
    assert first.ref in page and second.ref not in page.split("<table")[1]
    assert "Last checkpoint" in page and "never verified" in page
    page = client.get("/audit/?action=audit.checkpoint&object_type=audit_checkpoint").data.decode()
    assert "audit.checkpoint" in page.split("<table")[1]
    assert client.get("/audit/?since=2000-01-01&until=2000-01-02").status_code == 200
    assert client.get("/audit/?since=not-a-date").status_code == 422
    response = client.post("/audit/verify")
    assert response.status_code == 302
    page = client.get("/audit/").data.decode()
    assert "never verified" not in page and "audit.verified" in page


def test_pagination_by_seq(app, operator, login_as):
    from compliance.audit.chain import record

    for number in range(120):
        record("test.event", actor=operator, object_type="test", object_id=number)
    db.session.commit()
    _, client = login_as("counsel")
    page = client.get("/audit/?action=test.event").data.decode()
    assert "before=71" in page
    older = client.get("/audit/?action=test.event&before=71").data.decode()
    assert "#20<" in older.replace(" ", "") or "#20" in older


def test_analysts_do_not_see_the_audit_trail(app, login_as):
    _, client = login_as("analyst")
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify").status_code == 403
