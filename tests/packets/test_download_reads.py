"""Packet downloads are audited reads: never from another site, repeats are one event."""

from __future__ import annotations

from sqlalchemy import func, select

from compliance.audit.models import AuditEvent
from compliance.auth.models import User
from compliance.evidence.models import CustodyEvent
from compliance.extensions import db
from compliance.packets import operations
from compliance.packets.tasks import build_queued_packets
from tests.conftest import PASSWORD


def _counts() -> tuple[int, int]:
    db.session.expire_all()
    custody = db.session.scalar(
        select(func.count(CustodyEvent.id)).where(CustodyEvent.action == "exported")
    )
    audit = db.session.scalar(
        select(func.count(AuditEvent.seq)).where(AuditEvent.action == "packet.downloaded")
    )
    return custody, audit


def test_cross_site_downloads_record_nothing_and_repeats_are_one_event(ready_case, app):
    ready = ready_case(state="investigating")
    packet = operations.request_packet(ready.case, "memo", ready.counsel, draft=True)
    db.session.commit()
    [result] = build_queued_packets()
    assert result.packet.status == "stored"
    client = app.test_client()
    user = db.session.get(User, ready.counsel.user_id)
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    url = f"/cases/{ready.case.ref}/packets/{packet.id}/download"

    for _ in range(16):  # one hostile page navigating the counsel's browser 16 times
        assert client.get(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _counts() == (0, 0)

    for _ in range(3):
        response = client.get(url, headers={"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 200 and response.data.startswith(b"%PDF")
    exhibits, downloads = _counts()
    assert downloads == 1 and exhibits >= 1  # one event per exhibit, not three
    events = db.session.scalars(select(CustodyEvent).where(CustodyEvent.action == "exported")).all()
    assert {event.count for event in events} == {3}
