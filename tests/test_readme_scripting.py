"""The README's "Scripting a case" section, run exactly as written, on each database.

The commands are read from the README itself (the first ```sh block of that section) and run
by bash with the installed `compliance` on the PATH, pointed at this test's database: if the
README and the product drift apart, this test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.cases.models import Case
from compliance.extensions import db
from compliance.packets.models import Packet
from compliance.policies.models import ClauseCitation
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_block(heading: str) -> str:
    """The first ```sh block under `heading` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{1,3} ", section, maxsplit=1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, f"no ```sh block under {heading}"
    return match.group(1)


def test_the_section_is_what_the_issue_asks_for():
    """From ingest to a final packet marked sent, with the steps a script used to guess."""
    block = readme_block("### Scripting a case")
    for needed in (
        "compliance policies sync",
        "compliance ingest --json",
        'compliance case edit "$REF" --owner',
        "--summary -",
        "--action takedown --action referral",
        "compliance packet build",
        'compliance packet mark-sent "$PACKET"',
        "action_taken",
    ):
        assert needed in block, needed


def test_scripting_a_case_runs_as_documented(app, app_config, tmp_path, backend):
    if not shutil.which("jq"):
        pytest.skip("jq not installed (apt-get install jq)")
    script = tmp_path / "scripting.sh"
    script.write_text(readme_block("### Scripting a case"), encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "COMPLIANCE_DATABASE_URL": app_config["DATABASE_URL"],
        "COMPLIANCE_EVIDENCE_DIR": app_config["EVIDENCE_DIR"],
        "COMPLIANCE_INSTANCE_PATH": app_config["INSTANCE_PATH"],
        "COMPLIANCE_CHECKPOINT_DIR": app_config["CHECKPOINT_DIR"],
        "PASSWORD": PASSWORD,
    }
    work = tmp_path / "project"
    shutil.copytree(ROOT / "evidence_samples", work / "evidence_samples")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-x", str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1] == "action_taken"

    db.session.commit()  # the commands wrote in other processes: read afresh
    case = db.session.scalar(select(Case))
    assert case.state == "action_taken"
    assert case.owner.email == "alex.rivera@lab.example"
    assert case.summary.startswith("212 accounts swept")
    assert (case.suspected_actor, case.jurisdiction) == ("Lattice Labs", "US (N.D. Cal.)")
    assert case.chosen_actions == ["referral", "takedown"]
    assert db.session.scalar(select(ClauseCitation).where(ClauseCitation.case_id == case.id))
    preview, packet = db.session.scalars(
        select(Packet).where(Packet.case_id == case.id).order_by(Packet.id)
    ).all()
    assert (preview.packet_type, preview.draft, preview.sent_to) == ("referral", True, None)
    assert (packet.packet_type, packet.draft, packet.sent_to, packet.preview_id) == (
        "referral",
        False,
        "FBI Cyber Division",
        preview.id,
    )
    assert (work / "referral.pdf").read_bytes()[:5] == b"%PDF-"
    # The details were edited as the analyst, through the audited edit of the web form.
    edits = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.updated", AuditEvent.case_id == case.id)
    ).all()
    assert {e.actor for e in edits} == {"user:alex.rivera@lab.example"}
    assert {"owner_id", "summary"} <= {key for e in edits for key in e.changes}
