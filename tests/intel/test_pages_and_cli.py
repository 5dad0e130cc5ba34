"""The Intel tab, the preview-then-confirm export, the import page, and the CLI."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from compliance import PROJECT_ROOT
from compliance.auth.tokens import token_digest
from compliance.cli import main
from compliance.extensions import db
from compliance.intel import operations
from compliance.intel.models import IntelExport, IntelImport
from tests.intel.conftest import ACCOUNT, PREFIX

SAMPLES = PROJECT_ROOT / "evidence_samples" / "intel"


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', page
    )
    assert match, f"no hidden {name}"
    return html.unescape(match.group(1))


def test_counsel_previews_then_confirms_exactly_what_was_shown(
    app: Any, campaign_case: Any, login_as: Any
) -> None:
    _user, client = login_as("counsel")
    tab = client.get(f"/cases/{campaign_case.ref}?tab=intel")
    assert tab.status_code == 200 and "Preview the bundle" in tab.text

    prefix_id = next(
        s.id for s in operations.case_subject_rows(campaign_case) if s.type == "ip_prefix"
    )
    account_id = next(
        s.id for s in operations.case_subject_rows(campaign_case) if s.type == "account"
    )
    form = {
        "recipient": "AI Labs Distillation Forum",
        "tlp": "green",
        "subjects": [str(account_id), str(prefix_id)],
        "note": "",
    }
    preview = client.post(f"/cases/{campaign_case.ref}/intel/preview", data=form)
    assert preview.status_code == 200, preview.text
    page = preview.text
    assert PREFIX in page and "hmac-sha256/v1" in page and "TLP:GREEN" in page
    assert db.session.scalar(select(func.count()).select_from(IntelExport)) == 0  # not yet

    confirm = {
        **form,
        "nonce": _hidden(page, "nonce"),
        "prepared_at": _hidden(page, "prepared_at"),
        "sha256": _hidden(page, "sha256"),
    }
    done = client.post(f"/cases/{campaign_case.ref}/intel/export", data=confirm)
    assert done.status_code == 302
    record = db.session.scalar(select(IntelExport))
    assert record is not None and record.sha256 == confirm["sha256"]
    assert record.recipient == "AI Labs Distillation Forum"

    bundle = client.get(f"/cases/{campaign_case.ref}/intel/exports/{record.id}/bundle.json")
    assert bundle.status_code == 200 and ACCOUNT.encode() not in bundle.data
    assert record.sha256 in client.get(f"/cases/{campaign_case.ref}?tab=intel").text


def test_a_stale_preview_is_refused(app: Any, campaign_case: Any, login_as: Any) -> None:
    _user, client = login_as("counsel")
    subjects = [str(s.id) for s in operations.case_subject_rows(campaign_case)]
    form = {"recipient": "forum", "tlp": "amber", "subjects": subjects}
    page = client.post(f"/cases/{campaign_case.ref}/intel/preview", data=form).text
    confirm = {
        **form,
        "nonce": _hidden(page, "nonce"),
        "prepared_at": _hidden(page, "prepared_at"),
        "sha256": "0" * 64,  # what counsel saw is not what would be sent
    }
    client.post(f"/cases/{campaign_case.ref}/intel/export", data=confirm)
    assert db.session.scalar(select(func.count()).select_from(IntelExport)) == 0


def test_analyst_sees_matches_but_cannot_export(
    app: Any, campaign_case: Any, login_as: Any
) -> None:
    _user, client = login_as("analyst")
    tab = client.get(f"/cases/{campaign_case.ref}?tab=intel")
    assert tab.status_code == 200 and "Matches from industry sharing" in tab.text
    assert "Preview the bundle" not in tab.text
    refused = client.post(
        f"/cases/{campaign_case.ref}/intel/preview", data={"recipient": "x", "tlp": "red"}
    )
    assert refused.status_code == 403


def test_analyst_imports_a_bundle_on_the_intel_page(
    app: Any, campaign_case: Any, login_as: Any
) -> None:
    _user, client = login_as("analyst")
    assert "Intel sharing" in client.get("/").text or client.get("/intel/").status_code == 200
    data = (SAMPLES / "halcyon-unrelated-green.json").read_bytes()
    from io import BytesIO

    response = client.post(
        "/intel/import",
        data={"source": "Halcyon Labs", "file": (BytesIO(data), "halcyon.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    record = db.session.scalar(select(IntelImport))
    assert record.source == "Halcyon Labs" and record.tlp == "green"
    listing = client.get("/intel/")
    assert "TLP:GREEN" in listing.text and record.sha256[:16] in listing.text

    bad = client.post(
        "/intel/import",
        data={"source": "Halcyon Labs", "file": (BytesIO(b"{nope"), "bad.json")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Bundle refused: not JSON" in bad.text
    assert db.session.scalar(select(func.count()).select_from(IntelImport)) == 1


def test_auditor_cannot_open_the_import_page(app: Any, login_as: Any) -> None:
    _user, client = login_as("auditor")
    assert client.get("/intel/").status_code == 403


def test_cli_export_then_import_elsewhere(
    app: Any, campaign_case: Any, tmp_path: Path, other_lab: Any, ingest: Any
) -> None:
    out = tmp_path / "bundle.json"
    result = app.test_cli_runner().invoke(
        main, args=["intel", "export", campaign_case.ref, "--tlp", "amber", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "TLP:AMBER" in result.output and out.exists()
    assert ACCOUNT.encode() not in out.read_bytes()

    with other_lab.app_context():
        theirs = ingest([("account", ACCOUNT)])
        runner = other_lab.test_cli_runner()
        imported = runner.invoke(
            main, args=["intel", "import", str(out), "--source", "Frontier Lab"]
        )
        assert imported.exit_code == 0, imported.output
        assert f"1 match(es) on {theirs.ref}" in imported.output
        again = runner.invoke(main, args=["intel", "rematch"])
        assert again.exit_code == 0 and "0 new match(es)" in again.output


def test_cli_refuses_bad_tlp_with_one_line(app: Any, campaign_case: Any, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(
        main,
        args=["intel", "export", campaign_case.ref, "--tlp", "purple", "-o", str(tmp_path / "x")],
    )
    assert result.exit_code != 0 and "unknown TLP level" in result.output


def test_demo_samples_one_matches_the_demo_campaign_one_does_not(app: Any, ingest: Any) -> None:
    from compliance.evidence.files import read_batch
    from compliance.intel.demo import load_intel_samples

    for path in sorted((PROJECT_ROOT / "evidence_samples").glob("0[1-6]*.json*")):
        for body in read_batch(path):
            from compliance.actor import Actor
            from compliance.evidence.operations import ingest_findings

            ingest_findings(body, Actor.cli_operator(), channel="demo")
    db.session.commit()
    lines: list[str] = []
    load_intel_samples(lines.append)
    assert "match(es) on DIST-" in lines[0] and "kept for later matching" in lines[1]


def test_counsel_sets_up_taxii_sharing_from_the_cli(
    app: Any, campaign_case: Any, login_as: Any
) -> None:
    """Collection, partner token (printed once), publish, a partner's feed: all from scripts."""
    from compliance.intel.models import PartnerToken, TaxiiFeed

    runner = app.test_cli_runner()
    created = runner.invoke(
        main,
        args=[
            *("intel", "collections", "create", "--title", "Forum indicators"),
            *("--community", "Distillation forum", "--max-tlp", "amber"),
        ],
    )
    assert created.exit_code == 0, created.output
    collection_id = created.output.strip().splitlines()[-1]
    token = runner.invoke(
        main,
        args=[
            *("intel", "partner-tokens", "create", "--partner", "Corvid Labs"),
            *("--collection", collection_id),
        ],
    )
    assert token.exit_code == 0, token.output
    raw = token.output.strip().splitlines()[-1]
    stored = db.session.scalar(select(PartnerToken))
    assert raw.startswith("taxii_") and raw not in stored.token_hash
    assert stored.token_hash == token_digest(raw)  # hashed as every other token is

    exported = runner.invoke(
        main,
        args=["intel", "export", campaign_case.ref, "--tlp", "amber", "-o", "/dev/null"],
    )
    export_id = db.session.scalar(select(IntelExport.id))
    published = runner.invoke(
        main,
        args=["intel", "publish", campaign_case.ref, str(export_id), "--collection", collection_id],
    )
    assert exported.exit_code == 0 and published.exit_code == 0, published.output

    feed = runner.invoke(
        main,
        args=[
            *("intel", "feeds", "add", "--partner", "Corvid Labs"),
            *("--url", "https://taxii.corvid.example/taxii2/root/", "--collection", "abc"),
        ],
        input="their-secret-token\n",
    )
    assert feed.exit_code == 0, feed.output
    assert "their-secret-token" not in db.session.scalar(select(TaxiiFeed.secret))
    before = db.session.scalar(select(TaxiiFeed.secret))
    rotated = runner.invoke(
        main, args=["intel", "feeds", "set-secret", "1"], input="rotated-token\n"
    )
    assert rotated.exit_code == 0, rotated.output
    db.session.expire_all()
    assert db.session.scalar(select(TaxiiFeed.secret)) != before
    listed = runner.invoke(main, args=["intel", "feeds", "list"])
    assert "taxii.corvid.example" in listed.output and "their-secret-token" not in listed.output

    _user, client = login_as("counsel")
    page = client.get("/intel/").text
    assert collection_id in page and "Corvid Labs" in page and raw not in page
    assert "taxii.corvid.example" in page


def test_counsel_manages_taxii_partners_on_the_web(
    app: Any, campaign_case: Any, login_as: Any
) -> None:
    from compliance.intel.models import PartnerToken, TaxiiCollection, TaxiiFeed

    _user, client = login_as("counsel")
    assert client.get("/intel/partners").status_code == 200
    created = client.post(
        "/intel/partners/collections",
        data={"title": "Forum", "community": "Distillation forum", "max_tlp": "amber"},
    )
    assert created.status_code == 302
    collection = db.session.scalar(select(TaxiiCollection))
    issued = client.post(
        "/intel/partners/tokens",
        data={"partner": "Corvid Labs", "collection": collection.taxii_id},
    )
    raw = re.search(r'<pre class="token">([^<]+)</pre>', issued.text).group(1)
    token = db.session.scalar(select(PartnerToken))
    assert raw.startswith("taxii_") and token.partner == "Corvid Labs"
    assert raw not in client.get("/intel/partners").text  # shown once
    added = client.post(
        "/intel/partners/feeds",
        data={
            "partner": "Corvid Labs",
            "url": "https://taxii.corvid.example/taxii2/root/",
            "collection": "c-1",
            "secret": "their-token",
        },
    )
    assert added.status_code == 302
    assert "their-token" not in db.session.scalar(select(TaxiiFeed.secret))

    export = operations.export_case(campaign_case, _counsel(_user), tlp="amber", recipient="forum")
    db.session.commit()
    tab = client.get(f"/cases/{campaign_case.ref}?tab=intel").text
    assert "Publish on TAXII" in tab and "Push to partner" in tab
    published = client.post(
        f"/cases/{campaign_case.ref}/intel/exports/{export.id}/publish",
        data={"collection": collection.taxii_id},
    )
    assert published.status_code == 302
    db.session.expire_all()
    assert db.session.get(IntelExport, export.id).collection_id == collection.id
    revoked = client.post(f"/intel/partners/tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    db.session.expire_all()
    assert db.session.get(PartnerToken, token.id).revoked_at is not None

    _analyst, other = login_as("analyst")
    assert other.get("/intel/partners").status_code == 403


def _counsel(user: Any) -> Any:
    from compliance.actor import Actor

    return Actor.for_user(user)
