"""Builds off the request path, the Packets tab, downloads as custody, signing, Bates races."""

from __future__ import annotations

import hashlib
import re
import threading

import pytest
from sqlalchemy import func, select

from compliance.audit.models import AuditEvent
from compliance.evidence.models import CustodyEvent
from compliance.extensions import db
from compliance.packets import operations
from compliance.packets.models import Packet
from compliance.packets.tasks import build_packet, build_queued_packets
from tests.conftest import PASSWORD
from tests.packets.conftest import build, referral_fields


def test_web_queues_worker_builds_tab_downloads(ready_case, app):
    """The page queues; the worker renders; the tab shows it; a download is custody + audit."""
    ready = ready_case(state="investigating")
    client = app.test_client()
    from compliance.auth.models import User
    from tests.conftest import PASSWORD

    user = db.session.get(User, ready.counsel.user_id)
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    response = client.post(f"/cases/{ready.case.ref}/packets/new?type=memo", data={})
    assert response.status_code == 302, response.data
    packet = db.session.scalar(select(Packet))
    assert packet.status == "queued" and packet.draft
    page = client.get(f"/cases/{ready.case.ref}?tab=packets")
    assert b"queued" in page.data and b"packets.js" in page.data

    [result] = build_queued_packets()
    assert result.packet.status == "stored"
    page = client.get(f"/cases/{ready.case.ref}?tab=packets")
    assert b"Download PDF" in page.data and b"packets.js" not in page.data
    page = client.get(f"/cases/{ready.case.ref}/packets/{packet.id}")
    assert page.status_code == 200 and b"Redaction review" in page.data

    before = db.session.scalar(select(func.count(CustodyEvent.id)))
    download = client.get(f"/cases/{ready.case.ref}/packets/{packet.id}/download")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert hashlib.sha256(download.data).hexdigest() == result.packet.sha256
    assert db.session.scalar(select(func.count(CustodyEvent.id))) > before
    assert db.session.scalar(
        select(func.count(AuditEvent.seq)).where(AuditEvent.action == "packet.downloaded")
    )


def test_signed_packet_verifies_and_tampering_breaks_it(ready_case, app):
    from compliance.packets.cli import ensure_demo_key
    from compliance.packets.signing import pdfa_identification, verify_packet_file

    ensure_demo_key()
    ready = ready_case(actions=("referral",))
    preview, _pdf = build(ready.case, ready.counsel, "referral", referral_fields(ready))
    packet = operations.request_final(preview, ready.counsel)
    db.session.commit()
    result = build_packet(packet.id)
    assert result.packet.signed and result.pdf is not None
    assert pdfa_identification(result.pdf) == ("3", "B")  # still PDF/A after signing
    report = verify_packet_file(result.pdf)
    assert report.ok, report.problems
    assert any("signature" in fact for fact in report.facts)
    tampered = result.pdf.replace(b"FBI Cyber", b"FBI Cyder", 1)
    if tampered == result.pdf:  # text compressed: flip a byte inside the signed range
        data = bytearray(result.pdf)
        data[len(data) // 3] ^= 0x01
        tampered = bytes(data)
    report = verify_packet_file(tampered)
    assert not report.ok


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_reservations_never_overlap(app):
    """Many workers reserving at once get disjoint, continuous ranges (PostgreSQL row lock)."""
    ranges: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def worker(size: int) -> None:
        with app.app_context():
            try:
                while True:
                    expected = operations.counter_value("EVD")
                    first = operations.reserve_range("EVD", size, expected)
                    if first is not None:
                        db.session.commit()
                        ranges.append((first, first + size - 1))
                        return
                    db.session.rollback()
            except BaseException as error:  # noqa: BLE001 - surfaced below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(1 + i % 5,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ranges.sort()
    assert ranges[0][0] == 1
    for (_a, last), (first, _b) in zip(ranges, ranges[1:], strict=False):
        assert first == last + 1
    assert operations.counter_value("EVD") == ranges[-1][1]


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        (
            "type=takedown&basis=terms",
            {"offending_urls", "uploader"},
            {"agency_contact", "custodian"},
        ),
        ("type=referral", {"agency_contact", "custodian"}, {"offending_urls", "uploader"}),
        ("type=memo", {"narrative"}, {"agency_contact", "offending_urls", "custodian"}),
    ],
)
def test_the_compose_form_shows_only_the_fields_of_the_chosen_type(
    app, ready_case, query, present, absent
):
    from compliance.auth.models import User

    ready = ready_case()
    client = app.test_client()
    user = db.session.get(User, ready.counsel.user_id)
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    page = client.get(f"/cases/{ready.case.ref}/packets/new?{query}").get_data(as_text=True)
    names = set(re.findall(r'name="([a-z_]+)"', page))
    assert present <= names and not (absent & names), names
    # Without a type, the first page only asks which packet it is.
    choose = client.get(f"/cases/{ready.case.ref}/packets/new").get_data(as_text=True)
    assert "Compose a referral" in choose and 'name="recipient"' not in choose
