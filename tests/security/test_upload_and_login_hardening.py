"""Web uploads have size limits with clear answers (sign-ins: tests/security/test_sign_in.py)."""

from __future__ import annotations

import io

from sqlalchemy import select

from compliance.extensions import db
from tests.security.helpers import blob_files, row_counts


def _stored(app) -> tuple[dict[str, int], list[str]]:
    """Rows and files of the evidence store: a refused upload must leave both unchanged."""
    return row_counts(), blob_files(app.config["EVIDENCE_DIR"])


def _upload(client, ref, data: bytes, *, finding: bool = False, name: str = "shot.png"):
    form = {"file": (io.BytesIO(data), name), "description": "screenshot of the dashboard"}
    if finding:
        form["is_finding"] = "y"
    return client.post(
        f"/cases/{ref}/evidence",
        data=form,
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_upload_larger_than_the_request_limit_is_a_clear_413(app, login_as, make_case):
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, MAX_ATTACHMENT_BYTES=16 * 1024)
    _user, client = login_as("analyst")
    case = make_case()
    before = _stored(app)
    response = _upload(client, case.ref, b"x" * (128 * 1024))
    assert response.status_code == 413
    assert "text/html" in response.content_type and "413" in response.get_data(as_text=True)
    assert _stored(app) == before


def test_upload_over_the_file_limit_is_refused_with_the_reason(app, login_as, make_case):
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, MAX_ATTACHMENT_BYTES=16 * 1024)
    _user, client = login_as("analyst")
    case = make_case()
    before = _stored(app)
    response = _upload(client, case.ref, b"x" * (32 * 1024))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Upload refused" in page and "larger than" in page
    assert _stored(app) == before


def test_hostile_upload_names_and_finding_files_are_handled(app, login_as, make_case):
    _user, client = login_as("analyst")
    case = make_case()
    before = _stored(app)
    for body in (b"[" * 50000 + b"]" * 50000, b'{"a":' + b"9" * 5000 + b"}", b"\xff\xfe"):
        response = _upload(client, case.ref, body, finding=True, name="finding.json")
        assert response.status_code == 200 and "Upload refused" in response.get_data(as_text=True)
    assert _stored(app) == before
    stored = _upload(client, case.ref, b"PNG bytes", name="../../etc/passwd")
    assert stored.status_code == 200
    from compliance.evidence.models import EvidenceItem

    item = db.session.scalars(select(EvidenceItem).order_by(EvidenceItem.id.desc())).first()
    assert item.name == "passwd"  # the path is dropped: only a plain name is kept


def test_intel_bundle_over_the_limit_is_refused(app, login_as):
    from compliance.intel.models import IntelImport

    app.config["INTEL_MAX_BUNDLE_BYTES"] = 1024
    _user, client = login_as("counsel")
    response = client.post(
        "/intel/import",
        data={"file": (io.BytesIO(b" " * 4096 + b"{}"), "bundle.json"), "source": "forum"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert response.status_code == 200 and "Bundle refused" in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(IntelImport)) == 0
