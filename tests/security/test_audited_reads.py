"""Reads that leave a record: downloads, item pages, privileged notes (findings 6, 7, 9, 10).

- Another site cannot make a signed-in user's browser write custody records (finding 9), and
  reloading the same page is one event with a count.
- A download's file name cannot inject header parameters, and a name outside Latin-1 is a
  download, not a 500 after its custody was committed (finding 7).
- The audit trail's fingerprint of a privileged note is keyed: readers cannot confirm a
  guess of the text, and its length is not recorded (finding 6).
- On SQLite, audited reads in a burst beside writes are served, not 503 (finding 10).
"""

from __future__ import annotations

import hashlib
import io
import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.http import parse_options_header

from compliance.audit.models import AuditEvent
from compliance.evidence.models import CustodyEvent, EvidenceItem
from compliance.extensions import db
from tests.conftest import PASSWORD


def _upload(client, ref: str, name: str, data: bytes = b"PNG bytes") -> EvidenceItem:
    response = client.post(
        f"/cases/{ref}/evidence",
        data={"file": (io.BytesIO(data), name), "description": "screenshot of the listing"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    return db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id.desc())).first()


def _custody(item: EvidenceItem, action: str) -> list[CustodyEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(CustodyEvent).where(
                CustodyEvent.item_id == item.id, CustodyEvent.action == action
            )
        )
    )


def _audit_count(action: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


# ---------------------------------------------------------------- finding 9
def test_a_cross_site_navigation_to_an_evidence_page_records_nothing(login_as, make_case):
    _analyst, analyst_client = login_as("analyst")
    case = make_case()
    item = _upload(analyst_client, case.ref, "listing.png")
    _auditor, client = login_as("auditor")
    url = f"/cases/{case.ref}/evidence/{item.id}"
    for _ in range(16):
        refused = client.get(url, headers={"Sec-Fetch-Site": "cross-site"})
        assert refused.status_code == 403
        assert item.sha256 not in refused.get_data(as_text=True)
    # A browser that sends no Sec-Fetch-Site but a foreign Referer is refused too.
    assert client.get(url, headers={"Referer": "https://evil.example/page"}).status_code == 403
    assert _custody(item, "viewed") == [] and _audit_count("evidence.viewed") == 0
    # The refusal page links to the same address: following it is a same-origin request.
    page = refused.get_data(as_text=True)
    assert f'href="{url}"' in page
    opened = client.get(url, headers={"Sec-Fetch-Site": "same-origin"})
    assert opened.status_code == 200 and item.sha256 in opened.get_data(as_text=True)
    assert len(_custody(item, "viewed")) == 1


def test_reloading_an_item_page_is_one_custody_event_with_a_count(login_as, make_case):
    _analyst, analyst_client = login_as("analyst")
    case = make_case()
    item = _upload(analyst_client, case.ref, "listing.png")
    auditor, client = login_as("auditor")
    for _ in range(16):
        assert client.get(f"/cases/{case.ref}/evidence/{item.id}").status_code == 200
    (viewed,) = _custody(item, "viewed")
    assert viewed.count == 16 and viewed.actor == f"user:{auditor.email}"
    assert viewed.last_occurred_at >= viewed.occurred_at
    assert _audit_count("evidence.viewed") == 1
    page = client.get(f"/cases/{case.ref}/evidence/{item.id}").get_data(as_text=True)
    assert "×17" in page
    # Another person's view is their own event.
    _other, other_client = login_as("analyst")
    other_client.get(f"/cases/{case.ref}/evidence/{item.id}")
    assert len(_custody(item, "viewed")) == 2


def test_privileged_notes_tab_refuses_cross_site_requests(login_as, make_case):
    _counsel, client = login_as("counsel")
    case = make_case()
    client.post(f"/cases/{case.ref}/notes", data={"body": "Strategy.", "privileged": "y"})
    before = _audit_count("note.privileged_viewed")
    url = f"/cases/{case.ref}?tab=notes"
    assert client.get(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _audit_count("note.privileged_viewed") == before
    # Other tabs stay reachable from links in e-mails (a webmail click is cross-site).
    overview = client.get(f"/cases/{case.ref}", headers={"Sec-Fetch-Site": "cross-site"})
    assert overview.status_code == 200


def test_rereading_privileged_notes_is_one_event_until_a_new_note_appears(login_as, make_case):
    _counsel, client = login_as("counsel")
    case = make_case()
    client.post(f"/cases/{case.ref}/notes", data={"body": "Strategy.", "privileged": "y"})
    for _ in range(5):
        assert client.get(f"/cases/{case.ref}?tab=notes").status_code == 200
    assert _audit_count("note.privileged_viewed") == 1
    client.post(f"/cases/{case.ref}/notes", data={"body": "More strategy.", "privileged": "y"})
    client.get(f"/cases/{case.ref}?tab=notes")
    assert _audit_count("note.privileged_viewed") == 2


# ---------------------------------------------------------------- finding 7
@pytest.mark.parametrize(
    "name", ["evil\"; filename*=UTF-8''evil.html; x=\".csv", "截图.png", "tab\there.csv"]
)
def test_a_download_keeps_the_file_name_it_was_given(login_as, make_case, actor_for, name):
    from compliance.evidence.operations import add_evidence_file

    _analyst, client = login_as("analyst")
    case = make_case()
    # As a detector's attachment or an upload names it (the name is stored as sent).
    item = add_evidence_file(
        case,
        actor_for("analyst"),
        name=name,
        media_type="text/csv",
        data=b"a,b\n1,2\n",
        description="cluster listing",
    )
    db.session.commit()
    response = client.post(
        f"/cases/{case.ref}/evidence/{item.id}/download", data={"purpose": "exhibit review"}
    )
    assert response.status_code == 200 and response.data == b"a,b\n1,2\n"
    disposition, params = parse_options_header(response.headers["Content-Disposition"])
    assert disposition == "attachment"
    saved = params["filename"]  # filename* (RFC 5987) wins when present, as in browsers
    assert saved.startswith(f"{case.ref}-{item.id}-") and saved.endswith(name[-4:])
    assert not saved.endswith(".html")
    assert '"' not in saved and "\\" not in saved
    (downloaded,) = _custody(item, "downloaded")
    assert downloaded.purpose == "exhibit review"


def test_a_download_that_cannot_be_sent_leaves_no_custody_record(
    app, login_as, make_case, monkeypatch
):
    _analyst, client = login_as("analyst")
    case = make_case()
    item = _upload(client, case.ref, "listing.png")
    app.testing = False  # the error handler answers 500 instead of raising into the test
    import compliance.evidence.views as views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise UnicodeEncodeError("latin-1", "截图", 0, 1, "ordinal not in range(256)")

    monkeypatch.setattr(views, "send_file", broken)
    response = client.post(
        f"/cases/{case.ref}/evidence/{item.id}/download", data={"purpose": "exhibit review"}
    )
    assert response.status_code == 500
    assert _custody(item, "downloaded") == [] and _audit_count("evidence.downloaded") == 0


# ---------------------------------------------------------------- finding 6
def test_privileged_note_fingerprints_are_keyed_and_carry_no_length(app, make_case, login_as):
    from compliance.cli import main

    _counsel, client = login_as("counsel")
    case = make_case()
    guess = "Settle."
    client.post(f"/cases/{case.ref}/notes", data={"body": guess, "privileged": "y"})
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "note.added"))
    fingerprint = event.details["text"]
    assert set(fingerprint) == {"hmac_sha256"}  # no length
    assert hashlib.sha256(guess.encode()).hexdigest() not in event.payload
    # The lab, holding the audit key, can check a text against the trail.
    result = app.test_cli_runner().invoke(main, ["audit", "fingerprint"], input=guess + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == fingerprint["hmac_sha256"]


# ---------------------------------------------------------------- finding 10
@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's write lock is the subject
def test_audited_reads_beside_writes_are_served_on_sqlite(app, backend, login_as, make_case):
    _analyst, analyst_client = login_as("analyst")
    case = make_case()
    item = _upload(analyst_client, case.ref, "listing.png")
    emails = [login_as(role)[0].email for role in ("analyst", "auditor", "counsel", "analyst")]
    url, notes_url = f"/cases/{case.ref}/evidence/{item.id}", f"/cases/{case.ref}/notes"
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(email: str, writes: bool) -> None:
        client = FlaskClient(app, use_cookies=True)
        client.post("/login", data={"email": email, "password": PASSWORD})
        for n in range(15):
            if writes:
                response = client.post(notes_url, data={"body": f"note {n}"})
            else:
                response = client.get(url)
            with lock:
                statuses.append(response.status_code)

    db.session.commit()
    threads = [
        threading.Thread(target=worker, args=(email, index % 2 == 0))
        for index, email in enumerate(emails)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 60
    assert 503 not in statuses and 500 not in statuses, statuses
