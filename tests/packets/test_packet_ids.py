"""A script finds a packet's id (for `packet mark-sent`); the README's examples run as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from compliance.auth.models import User
from tests.security.helpers import run_cli

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_packet_builds() -> list[list[str]]:
    """The `compliance packet build` commands of the README's "Evidence packets" block."""
    section = README.read_text(encoding="utf-8").split("### Evidence packets\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    builds = [c[3:] for c in commands if c[:3] == ["compliance", "packet", "build"]]
    return [args[: args.index("<")] if "<" in args else args for args in builds]  # no stdin


def test_the_readme_packet_examples_carry_the_fields_each_type_needs(app, ready_case):
    """The README's example once failed as written (a final referral without --recipient):
    each preview it shows is a valid composition, and each final comes from a preview."""
    from compliance.packets.cli import _composition, build
    from compliance.packets.operations import request_packet

    ready = ready_case()  # approved for takedown and referral
    examples = readme_packet_builds()
    assert {"--draft" in args for args in examples} == {True, False}
    for args in examples:
        params = build.make_context("build", list(args)).params
        if not params["draft"]:
            assert params["preview_id"] is not None and params["as_email"], args
            continue
        # `-` reads standard input, as the README's example does from a file.
        params |= {k: "From a file." for k in ("narrative", "copyrighted_work") if params[k] == "-"}
        request_packet(  # raises InvalidInput naming the bad field, as the CLI would
            ready.case, params["packet_type"], ready.counsel, fields=_composition(params)
        )


def test_packet_list_and_build_print_the_id_mark_sent_takes(app, ready_case, tmp_path):
    from compliance.extensions import db
    from compliance.packets.operations import request_packet

    ready = ready_case()
    queued = request_packet(
        ready.case, "referral", ready.counsel, fields={"recipient": "FBI Cyber Division"}
    )
    db.session.commit()

    built = run_cli(
        app,
        "packet",
        "build",
        ready.case.ref,
        "--type",
        "memo",
        "--draft",
        "-o",
        str(tmp_path / "memo.pdf"),
        "--json",
    )
    assert built.exit_code == 0, built.output
    memo = json.loads(built.stdout)
    assert memo["case_ref"] == ready.case.ref and memo["type"] == "memo" and memo["draft"]
    assert memo["status"] == "stored" and memo["pages"] >= 1 and len(memo["sha256"]) == 64
    assert memo["output"] == str(tmp_path / "memo.pdf")

    listed = run_cli(app, "packet", "list", ready.case.ref, "--json")
    assert listed.exit_code == 0, listed.output
    packets = json.loads(listed.stdout)["packets"]
    assert [(p["id"], p["type"], p["status"]) for p in packets] == [
        (memo["id"], "memo", "stored"),
        (queued.id, "referral", "queued"),
    ]
    text = run_cli(app, "packet", "list", ready.case.ref)
    assert text.output.splitlines()[1].startswith(f"{queued.id}\treferral DRAFT\tqueued")

    # The id is what mark-sent takes; a draft is never sent (refused: exit 1).
    refused = run_cli(
        app, "packet", "mark-sent", str(memo["id"]), "--recipient", "x", "--channel", "email"
    )
    assert refused.exit_code == 1, refused.output


def test_an_analyst_does_not_see_the_privileged_memo_in_the_list(app, ready_case, tmp_path):
    from compliance.extensions import db
    from compliance.packets.operations import request_packet

    ready = ready_case()
    request_packet(ready.case, "memo", ready.counsel, draft=True)
    db.session.commit()
    analyst_email = db.session.get(User, ready.analyst.user_id).email
    as_analyst = run_cli(app, "packet", "list", ready.case.ref, "--json", "--as", analyst_email)
    assert json.loads(as_analyst.stdout)["packets"] == []
    as_operator = run_cli(app, "packet", "list", ready.case.ref, "--json")
    assert len(json.loads(as_operator.stdout)["packets"]) == 1


def test_the_help_says_where_the_id_comes_from(app):
    build_help = " ".join(run_cli(app, "packet", "build", "--help").output.split())
    assert "mark-sent ID" in build_help and '"id"' in build_help
    assert "--recipient" in build_help
    sent_help = " ".join(run_cli(app, "packet", "mark-sent", "--help").output.split())
    assert "packet build" in sent_help and "packet list" in sent_help
