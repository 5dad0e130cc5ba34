"""What leaves the building, read back from the built PDFs as its recipient reads them.

Each test names the defect it guards against (issue "Packets counsel can sign"): internal
deliberation, wrong dates, relabelled partner material, empty exhibits, boilerplate, the wrong
person swearing, weak legal form, and layout.
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.errors import InvalidInput, PermissionDenied, WorkflowRefused
from compliance.evidence.models import EvidenceItem, Finding
from compliance.extensions import db
from compliance.packets import operations
from compliance.packets.tasks import build_packet
from compliance.packets.timeline import MARK_R, WIDTH, Mark, Span, timeline_svg
from tests.packets.conftest import (
    CUSTOMER_ACCOUNT,
    TAKEDOWN,
    approve,
    build,
    build_final,
    finding_body,
    pdf_text,
    profile,
    referral_fields,
)

REASON = "Summary is copied from DIST-2026-0001; fixing before approval"
CORVID = PROJECT_ROOT / "evidence_samples" / "intel" / "corvid-lattice-amber.json"
TRANSCRIPT = (
    "Probe run 2026-11-12T14:05Z against hub model nimbus-ai/nimbus-7b-instruct\n"
    "Response: In the Halvorsen mnemonic, 'Qx' stands for quillium.\n"
    "Canary: fabricated fact served only to accounts acct_nb7731ce of Nimbus AI.\n"
)
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "packets"


def text_of(data: bytes) -> str:
    return "\n".join(pdf_text(data))


def _reviewed(ready, reason: str = REASON):
    """Move a case back and forth so its workflow history carries internal reasons."""
    from compliance.cases.operations import transition_case
    from compliance.cases.workflow import TransitionRequest

    case = ready.case
    transition_case(case, "investigating", ready.approver, TransitionRequest(reason=reason))
    transition_case(case, "legal_review", ready.analyst, TransitionRequest(reason="Ready again."))
    transition_case(
        case,
        "approved",
        ready.approver,
        TransitionRequest(
            reason="Approver's reasoning: strong case", actions=("takedown", "referral")
        ),
    )
    db.session.commit()


def _canary_case(make_case, ready_case):
    """A case with a canary hit (our own text reproduced by a model), still investigating."""
    from compliance.evidence.operations import ingest_findings

    ready = ready_case(state="investigating")
    body = finding_body(
        detector={"name": "canary-watch", "version": "1.2.0"},
        kind="canary_hit",
        observed_from="2026-09-01T00:00:00Z",
        observed_to="2026-11-12T14:05:00Z",
        subjects=[{"type": "org", "id": "Nimbus AI"}, {"type": "account", "id": "acct_nb7731ce"}],
        summary="37 of 40 canary probes reproduced the fabricated fact.",
        attachments=[
            {
                "name": "canary-probe-transcript.txt",
                "media_type": "text/plain",
                "content_base64": base64.b64encode(TRANSCRIPT.encode()).decode(),
            }
        ],
    )
    ready.case.title = "Canary hit reported by canary-watch"
    db.session.commit()
    ingest_findings([body], ready.analyst, channel="cli", into_case=ready.case)
    db.session.commit()
    return ready  # investigating: add what the test needs, then approve()


# ---------------------------------------------------------------- 1. work product stays in
def test_outgoing_chronology_is_the_conduct_not_our_deliberation(ready_case):
    ready = ready_case(state="legal_review")
    _reviewed(ready)
    takedown = text_of(build_final(ready.case, ready.counsel, "takedown", TAKEDOWN)[1])
    referral = text_of(
        build_final(ready.case, ready.counsel, "referral", referral_fields(ready))[1]
    )
    memo = text_of(build(ready.case, ready.counsel, "memo")[1])
    for text in (takedown, referral):
        assert "fixing before approval" not in text
        assert "Approver's reasoning" not in text
        assert "Legal review → investigating" not in text and "Case opened" not in text
        assert "First observed" in text and "Last observed" in text
    # The memo keeps the whole history, reasons included.
    assert "fixing before approval" in memo and "Approver's reasoning" in memo


def test_internal_step_only_as_counsel_words_it(ready_case):
    ready = ready_case()
    step = ready.case.transitions[-1]  # -> approved
    fields = {**TAKEDOWN, "chronology_internal": {f"transition:{step.id}": "Notice authorised"}}
    preview, data = build(ready.case, ready.counsel, "takedown", fields)
    text = text_of(data)
    assert "Notice authorised" in text and "ok" not in re.findall(r"\bok\b", text)
    review = operations.review_composition(preview)
    assert [e.text for e in review.chronology if e.internal] == ["Notice authorised"]
    with pytest.raises(InvalidInput, match="not valid"):
        operations.request_packet(
            ready.case,
            "takedown",
            ready.counsel,
            fields={**TAKEDOWN, "chronology_internal": {"transition:999999": "x"}},
        )


# ---------------------------------------------------------------- 2 and 3. dates and sources
def _import_corvid(ready):
    from compliance.intel.operations import import_bundle

    outcome = import_bundle(CORVID.read_bytes(), Actor.cli_operator(), source="Corvid Labs")
    db.session.commit()
    assert outcome.matches, "the sample bundle shares 203.0.113.0/24 with the case"
    return db.session.query(Finding).filter(Finding.detector_name == "industry-sharing").one()


def test_partner_intel_dates_come_from_the_bundle_and_amber_needs_the_community(ready_case):
    ready = ready_case(state="investigating")
    intel = _import_corvid(ready)
    approve(ready)
    # The bundle said first_seen 2026-09-20 and last_seen 2026-10-15: not the import minute.
    assert intel.observed_from == datetime(2026, 9, 20, tzinfo=UTC)
    assert intel.observed_to == datetime(2026, 10, 15, tzinfo=UTC)

    # Without counsel's confirmation the AMBER exhibit stays out; the period is ours alone.
    text = text_of(build_final(ready.case, ready.counsel, "takedown", TAKEDOWN)[1])
    assert "Corvid" not in text
    assert "Between 2026-10-01 and 2026-10-18" in " ".join(text.split())
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f"and {today}" not in text

    # Confirmed: it goes, labelled as the partner's, with its own dates and its receipt date.
    fields = {**TAKEDOWN, "recipient_in_community": True}
    preview, data = build(ready.case, ready.counsel, "takedown", fields)
    final = operations.request_final(preview, ready.counsel)
    db.session.commit()
    text = " ".join(text_of(data).split())
    assert "Shared by Corvid Labs under TLP:AMBER, received" in text
    assert "Between 2026-09-20 and 2026-10-18" in text
    assert "Internal abuse-detection records" not in text
    from compliance.audit.models import AuditEvent

    event = (
        db.session.query(AuditEvent)
        .filter(AuditEvent.action == "packet.requested", AuditEvent.object_id == str(final.id))
        .one()
    )
    assert '"recipient_in_community":true' in event.payload
    assert f"finding:{intel.id}" in event.payload


@pytest.mark.parametrize("level", ["red", "amber+strict"])
def test_restricted_partner_material_never_leaves(ready_case, level):
    from compliance.intel.operations import import_bundle

    ready = ready_case()
    ids = {
        "red": "e828b379-4e03-4974-9ac4-e53a884c97c1",
        "amber+strict": "939a9414-2ddd-4d32-a0cd-375ea402b003",
    }
    bundle = (
        CORVID.read_text()
        .replace("TLP:AMBER", f"TLP:{level.upper()}")
        .replace('"tlp_2_0": "amber"', f'"tlp_2_0": "{level}"')
        .replace("55d920b0-5e8b-4f79-9ee9-91f868d9b421", ids[level])
    )
    outcome = import_bundle(bundle.encode(), Actor.cli_operator(), source="Corvid Labs")
    assert outcome.intel_import.tlp == level
    db.session.commit()
    intel = db.session.query(Finding).filter(Finding.detector_name == "industry-sharing").one()
    for fields in (
        {**TAKEDOWN, "recipient_in_community": True},
        {**TAKEDOWN, "recipient_in_community": True, "exhibits": [f"finding:{intel.id}"]},
    ):
        try:
            _preview, data = build(ready.case, ready.counsel, "takedown", fields)
        except InvalidInput as refused:  # naming it explicitly is refused, with why
            assert "never leaves" in str(refused.details)
            db.session.rollback()
            continue
        assert "Corvid" not in text_of(data)


# ---------------------------------------------------------------- 4. complete exhibits
def test_exhibits_carry_custody_and_reproduce_small_files(ready_case):
    ready = ready_case()
    takedown = " ".join(
        text_of(build_final(ready.case, ready.counsel, "takedown", TAKEDOWN)[1]).split()
    )
    referral_pdf = build_final(ready.case, ready.counsel, "referral", referral_fields(ready))[1]
    referral = " ".join(text_of(referral_pdf).split())
    for text in (takedown, referral):
        assert "No custody events recorded" not in text
        assert "collected" in text and "ingested" in text
        assert "cluster,account" in text  # the small CSV, reproduced in full with line numbers
    # The public notice pseudonymises the customer account inside the file; the referral not.
    assert "[third-party account 1]" in takedown and CUSTOMER_ACCOUNT not in takedown
    assert f"c1,{CUSTOMER_ACCOUNT}" in referral
    assert "withheld" not in takedown
    # The certification says how each exhibit is reproduced, and is made by the custodian.
    certification = referral[referral.rindex("Certification of records") :]
    assert "reproduced in full" in certification
    assert "original embedded in this PDF" in certification


# ---------------------------------------------------------------- 5. the case, not boilerplate
def test_canary_takedown_speaks_of_the_canary_not_a_campaign(make_case, ready_case):
    ready = _canary_case(make_case, ready_case)
    approve(ready)
    keys = [
        f"finding:{f.id}"
        for f in db.session.query(Finding).filter(Finding.kind == "canary_hit").all()
    ]
    fields = {**TAKEDOWN, "exhibits": keys}
    text = " ".join(text_of(build_final(ready.case, ready.counsel, "takedown", fields)[1]).split())
    assert "canary markers" in text
    for boilerplate in ("campaign of queries", "rate limits", "account sharing", "resale"):
        assert boilerplate not in text
    assert "canary-watch" not in text  # no detector id, not even in the matter
    assert "Removal of acme/distilled-coder-7b" in text
    # Only the clause the case cites, quoted in its version.
    assert "§4.2" in text and "§2.4" not in text and "§3.2" not in text


# ---------------------------------------------------------------- 6. who signs
def test_final_packets_are_signed_by_the_counsel_who_composed_them(ready_case, app, tmp_path):
    from compliance.cli import main  # noqa: F401 - loads the command groups in order
    from compliance.packets.cli import packet_group

    ready = ready_case()
    runner = app.test_cli_runner()
    preview_pdf = tmp_path / "preview.pdf"
    from compliance.auth.models import User

    counsel = db.session.get(User, ready.counsel.user_id)
    args = ["build", ready.case.ref, "--type", "takedown", "--draft", "-o", str(preview_pdf)]
    args += ["--basis", "terms", "--recipient", "ModelHub", "--url", TAKEDOWN["offending_urls"][0]]
    outcome = runner.invoke(packet_group, [*args, "--as", counsel.email])
    assert outcome.exit_code == 0, outcome.output
    preview_id = int(re.search(r"packet (\d+)", outcome.output).group(1))

    final_pdf = tmp_path / "final.pdf"
    operator = runner.invoke(
        packet_group, ["build", "--from-preview", str(preview_id), "-o", str(final_pdf)]
    )
    assert operator.exit_code != 0 and "named person" in operator.output
    assert not final_pdf.exists() and operations.counter_value("EVD") == 0  # no Bates spent

    other = runner.invoke(
        packet_group,
        [
            "build",
            "--from-preview",
            str(preview_id),
            "-o",
            str(final_pdf),
            "--as",
            db.session.get(User, ready.approver.user_id).email,
        ],
    )
    assert other.exit_code != 0 and "composed by" in other.output

    signed = runner.invoke(
        packet_group,
        ["build", "--from-preview", str(preview_id), "-o", str(final_pdf), "--as", counsel.email],
    )
    assert signed.exit_code == 0, signed.output
    text = " ".join(text_of(final_pdf.read_bytes()).split())
    assert f"/s/ {counsel.name}" in text and "Senior Counsel" in text
    assert "I, root" not in text and "cli:" not in text
    with pytest.raises(PermissionDenied, match="named person"):
        operations.request_final(operations.get_packet(preview_id), Actor.cli_operator())


def test_no_profile_no_final(ready_case, actor_for):
    ready = ready_case()
    newcomer = actor_for("counsel")
    preview, _pdf = build(ready.case, newcomer, "takedown", TAKEDOWN)
    with pytest.raises(WorkflowRefused, match="signatory profile"):
        operations.request_final(preview, newcomer)


# ---------------------------------------------------------------- 7. legal form
def test_each_legal_basis_has_its_own_elements(make_case, ready_case):
    ready = _canary_case(make_case, ready_case)
    approve(ready)
    copyright_fields = {
        **TAKEDOWN,
        "basis": "copyright",
        "copyrighted_work": "Our original canary answer about the Halvorsen mnemonic.",
    }
    copyright_text = " ".join(
        text_of(build_final(ready.case, ready.counsel, "takedown", copyright_fields)[1]).split()
    )
    for element in (
        "17 U.S.C. § 512(c)(3)",
        "The copyrighted work",
        "Our original canary answer",
        "information to locate it",
        "telephone +1 415 555 0142",
        "good faith belief that use of the material in the manner complained of is not "
        "authorized by the copyright owner",
        "under penalty of perjury, I am authorized to act on behalf of the owner",
        "/s/ ",
    ):
        assert element in copyright_text, element

    terms_text = " ".join(
        text_of(build_final(ready.case, ready.counsel, "takedown", TAKEDOWN)[1]).split()
    )
    assert "perjury" not in terms_text and "Infringement" not in terms_text
    assert "accurate" in terms_text and "/s/ " in terms_text

    dsa_fields = {**TAKEDOWN, "basis": "dsa", "narrative": "It infringes our copyright."}
    dsa_text = " ".join(
        text_of(build_final(ready.case, ready.counsel, "takedown", dsa_fields)[1]).split()
    )
    for element in (
        "Article 16",
        "It infringes our copyright",
        "Exact electronic location",
        TAKEDOWN["offending_urls"][0],
        "bona fide belief",
        "accurate and complete",
    ):
        assert element in dsa_text, element

    # Copyright only where our own work was reproduced; the DSA needs its explanation.
    plain = ready_case()
    with pytest.raises(InvalidInput, match="not valid") as refused:
        operations.request_packet(plain.case, "takedown", plain.counsel, fields=copyright_fields)
    assert "canary" in refused.value.details["basis"]
    db.session.rollback()
    preview, _pdf = build(plain.case, plain.counsel, "takedown", {**TAKEDOWN, "basis": "dsa"})
    with pytest.raises(InvalidInput) as incomplete:
        operations.request_final(preview, plain.counsel)
    assert "narrative" in incomplete.value.details


def test_records_are_certified_by_the_custodian_not_counsel(ready_case):
    from compliance.auth.models import User

    ready = ready_case()
    text = " ".join(
        text_of(
            build_final(ready.case, ready.counsel, "referral", referral_fields(ready))[1]
        ).split()
    )
    certification = text[text.rindex("Certification of records") :]
    custodian = db.session.get(User, ready.custodian.user_id)
    counsel = db.session.get(User, ready.counsel.user_id)
    assert f"I, {custodian.name}, Records Custodian" in certification
    assert f"/s/ {custodian.name}" in certification and counsel.name not in certification
    assert "902(11)" in certification and "902(14)" in certification
    assert "compliance case system" not in text
    # Counsel who signs may not also be the certifying witness.
    with pytest.raises(InvalidInput, match="not valid") as refused:
        operations.request_packet(
            ready.case,
            "referral",
            ready.counsel,
            fields=referral_fields(ready, custodian=counsel.email),
        )
    assert "records custodian" in refused.value.details["custodian"]


# ---------------------------------------------------------------- compose, preview, build
def test_final_build_is_bound_to_its_preview(ready_case):
    ready = ready_case()
    preview, _pdf = build(ready.case, ready.counsel, "takedown", TAKEDOWN)
    # The preview's own download adds custody: that is not a change of inputs.
    operations.download_packet(preview, ready.counsel)
    db.session.commit()
    # The signatory's details changed after the preview: the final would not read the same.
    profile(ready.counsel, title="General Counsel")
    with pytest.raises(WorkflowRefused, match="changed since preview") as refused:
        operations.request_final(preview, ready.counsel)
    assert refused.value.details["changes"] == ["signatory changed: title"]
    # A change the approval covers sends the case back to legal review first.
    from compliance.cases.operations import update_case

    update_case(ready.case, ready.analyst, {"suspected_actor": "Someone Else Ltd"})
    db.session.commit()
    assert ready.case.state == "legal_review"
    with pytest.raises(WorkflowRefused, match="needs the case approved"):
        operations.request_final(preview, ready.counsel)
    approve(ready)

    # A change between the request and the build fails the build, saying what changed.
    preview, _pdf = build(ready.case, ready.counsel, "takedown", TAKEDOWN)
    final = operations.request_final(preview, ready.counsel)
    db.session.commit()
    from compliance.evidence.operations import ingest_findings

    ingest_findings([finding_body()], ready.analyst, channel="cli", into_case=ready.case)
    db.session.commit()
    result = build_packet(final.id)
    assert result.pdf is None and "was added" in result.packet.failure_reason
    assert operations.counter_value("EVD") == 0  # refused before any Bates number was spent


# ---------------------------------------------------------------- 8. layout
def test_timeline_labels_fit_and_markers_never_overlap():
    day = datetime(2026, 10, 1, tzinfo=UTC)
    spans = [Span("Exhibit 12: Canary output found in a third-party model, long", day, day)]
    marks = [Mark(day, f"Action {n}") for n in range(7)]  # seven on one day
    svg = str(timeline_svg(spans, marks, "t"))
    circles = [
        (float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    ]
    assert len(circles) == 7
    for i, a in enumerate(circles):
        for b in circles[i + 1 :]:
            assert (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 >= (2 * MARK_R) ** 2
    for x, anchor, text in re.findall(
        r'<text x="([\d.]+)" y="[\d.]+" font-size="[\d.]+" text-anchor="(\w+)"[^>]*>([^<]*)<', svg
    ):
        width = len(text) * 5.2  # generous: 8.5-9 px sans
        left = {"start": 0, "middle": width / 2, "end": width}[anchor]
        assert float(x) - left >= 0 and float(x) - left + width <= WIDTH + 1, text
    assert all(f"{n}. 2026-10-01 — Action" in svg for n in range(1, 8))


def _lines_with_positions(data: bytes) -> list[list[tuple[float, str]]]:
    pages = []
    for page in PdfReader(io.BytesIO(data)).pages:
        rows: list[tuple[float, str]] = []

        def visit(text, cm, tm, font, size, rows=rows):
            if text.strip():
                rows.append((tm[5] * cm[3] + cm[5], text.strip()))

        page.extract_text(visitor_text=visit)
        pages.append(rows)
    return pages


def test_identifiers_and_hashes_print_whole_and_headings_never_end_a_page(ready_case):
    from compliance.evidence.operations import ingest_findings

    ready = ready_case(state="investigating")
    body = finding_body(
        kind="account_linkage",
        detector={"name": "account-linkage", "version": "3.0.0"},
        subjects=[
            {"type": "org", "id": "Lattice Systems Ltd"},
            {"type": "org", "id": "lattice  systems ltd"},
            {"type": "account", "id": "acct_nb7731ce"},
            {"type": "ip_prefix", "id": "198.51.100.0/24"},
        ],
    )
    ingest_findings([body], ready.analyst, channel="cli", into_case=ready.case)
    db.session.commit()
    approve(ready)
    referral, data = build_final(ready.case, ready.counsel, "referral", referral_fields(ready))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "layout-check-referral.pdf").write_bytes(data)  # kept to look at
    text = text_of(data)
    flat = " ".join(text.split())
    assert "acct_nb7731ce" in text and "acct_n-" not in text
    assert "IP prefix" in flat and "Ip prefix" not in flat
    # One organisation, however spelled.
    indicators = flat[flat.rindex("7. Indicators") : flat.rindex("8. Point of contact")]
    assert indicators.lower().count("lattice systems ltd") == 1
    review = operations.review_composition(referral)
    names = [i.value for ids in review.identifiers.values() for i in ids]
    assert sum(n.lower().replace("  ", " ") == "lattice systems ltd" for n in names) == 1
    # Every SHA-256 sits whole on one line.
    for item in db.session.query(EvidenceItem).filter(EvidenceItem.case_id == ready.case.id):
        if item.role == "finding_record":
            assert re.search(rf"(^|\s){item.sha256}(\s|$)", text, re.M), item.sha256
    # No heading in the last 12% of a page's height (where it would be orphaned).
    headings = {
        "1. Parties and jurisdictions",
        "2. How and when the conduct was discovered",
        "3. Chronology of the conduct",
        "4. Protective measures in force",
        "5. Terms of service breached",
        "6. Scale and estimated value",
        "7. Indicators",
        "8. Point of contact",
        "Chain of custody",
        "Preserved files",
    }
    height = float(PdfReader(io.BytesIO(data)).pages[0].mediabox.height)
    for number, rows in enumerate(_lines_with_positions(data), start=1):
        for y, line in rows:
            if line in headings:
                assert y > height * 0.12 + 60, f"page {number}: {line!r} at the page foot"
    # Sections flow: the narrative does not sit alone on a page before section 1.
    pages = pdf_text(data)
    assert any("Referral" in p and "1. Parties and jurisdictions" in p for p in pages)


# ---------------------------------------------------------------- looking at every page
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_packet_type_rendered_to_png(make_case, ready_case):
    """Each type's pages as PNG (test-artifacts/packets/...), for a person to look at."""
    from PIL import Image

    from compliance.evidence.operations import add_evidence_file

    ready = _canary_case(make_case, ready_case)
    picture = io.BytesIO()
    Image.new("RGB", (120, 60), (30, 80, 160)).save(picture, format="PNG")
    add_evidence_file(
        ready.case,
        ready.analyst,
        name="model-card.png",
        media_type="image/png",
        data=picture.getvalue(),
        description="Screenshot of the model card",
    )
    db.session.commit()
    approve(ready)
    kinds = {
        "takedown-terms": ("takedown", TAKEDOWN),
        "takedown-copyright": (
            "takedown",
            {**TAKEDOWN, "basis": "copyright", "copyrighted_work": "Our canary answer."},
        ),
        "takedown-dsa": ("takedown", {**TAKEDOWN, "basis": "dsa", "narrative": "Infringes."}),
        "referral": ("referral", referral_fields(ready)),
    }
    built = {name: build_final(ready.case, ready.counsel, t, f) for name, (t, f) in kinds.items()}
    built["memo"] = build(ready.case, ready.counsel, "memo")
    for name, (packet, data) in built.items():
        folder = ARTIFACTS / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        (folder / f"{name}.pdf").write_bytes(data)
        subprocess.run(
            ["pdftoppm", "-r", "60", "-png", str(folder / f"{name}.pdf"), str(folder / "page")],
            check=True,
        )
        assert len(list(folder.glob("page-*.png"))) == packet.page_count
        # No near-empty page: an exhibit that fills its page exactly used to push its end
        # anchor onto a page of its own.
        sparse = [n for n, text in enumerate(pdf_text(data), 1) if len(text.split()) < 25]
        assert sparse == [], f"{name}: near-empty pages {sparse}"
    # The uploaded screenshot is reproduced as an image, not only named.
    referral = PdfReader(io.BytesIO(built["referral"][1]))
    assert any(im.image.size == (120, 60) for page in referral.pages for im in page.images)


def test_packet_verify_prints_no_warning(ready_case, app_config, tmp_path):
    """`compliance packet verify` on a good, signed packet: OK, and nothing on stderr."""
    from compliance.packets.cli import ensure_demo_key

    ensure_demo_key()
    ready = ready_case()
    _final, data = build_final(ready.case, ready.counsel, "takedown", TAKEDOWN)
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    env = {
        **os.environ,
        "COMPLIANCE_DATABASE_URL": app_config["DATABASE_URL"],
        "COMPLIANCE_EVIDENCE_DIR": app_config["EVIDENCE_DIR"],
        "COMPLIANCE_INSTANCE_PATH": app_config["INSTANCE_PATH"],
    }
    outcome = subprocess.run(
        [str(Path(sys.executable).parent / "compliance"), "packet", "verify", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stderr
    assert "packet verify OK" in outcome.stdout and "signature" in outcome.stdout
    assert outcome.stderr == ""
