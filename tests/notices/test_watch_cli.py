"""`compliance notice check-identifier`, `compliance notice deadlines`, and the watch reacting
to `compliance ingest` in a process of its own."""

from __future__ import annotations

import json

from sqlalchemy import select

from compliance.actor import Actor
from compliance.extensions import db
from compliance.notices.operations import transition_notice
from compliance.notices.tracking import RepeatFlag
from tests.notices.followup import make_recipient, send_notice
from tests.notices.test_watch import WEIGHTS_SHA256, reupload_finding
from tests.test_cli import cli_env, run  # noqa: F401 - the fixture

__all__ = ["cli_env"]


def test_check_identifier_deadlines_and_ingest_from_the_command_line(
    backend,
    app,
    cli_env,
    make_case,
    make_user,
    tmp_path,  # noqa: F811
):
    counsel_user = make_user("counsel")
    counsel = Actor.for_user(counsel_user)
    recipient = make_recipient(counsel)
    taken = send_notice(make_case(), counsel, recipient, files=[WEIGHTS_SHA256])
    transition_notice(taken, counsel, "resolved", outcome="removed")
    waiting = send_notice(make_case(title="Another model"), counsel, recipient)
    db.session.commit()

    result = run(cli_env, "notice", "deadlines", "--json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)["items"]
    assert item["notice_id"] == waiting.id and item["deadline"] == "acknowledgment"
    assert item["text"].endswith("business days left")

    result = run(
        cli_env,
        "notice",
        "check-identifier",
        "file_sha256",
        WEIGHTS_SHA256.upper(),
        "--json",
        "--as",
        counsel_user.email,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["repeat"] is True and [n["id"] for n in body["notices"]] == [taken.id]
    result = run(cli_env, "notice", "check-identifier", "file_sha256", "not-a-hash")
    assert result.returncode == 2 and "SHA-256" in result.stderr

    finding = tmp_path / "reupload.json"
    finding.write_text(json.dumps(reupload_finding()))
    result = run(cli_env, "ingest", str(finding))
    assert result.returncode == 0, result.stderr
    db.session.commit()
    sources = sorted(f.source for f in db.session.scalars(select(RepeatFlag)))
    assert sources == ["analyst", "finding"]
