"""Markings on received intel: object and granular levels, the strictest governs; what the
lead's packets read about intel-derived findings; bundles from before the extensions."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from compliance.actor import Actor
from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.intel import operations, stix
from tests.intel.conftest import ACCOUNT

SAMPLES = __import__("pathlib").Path(__file__).parent / "data"


def _bundle(case: Any, counsel: Actor, level: str) -> dict[str, Any]:
    record = operations.export_case(case, counsel, tlp=level, recipient="Nimbus Watch")
    db.session.commit()
    return json.loads(operations.stored_bundle(record.sha256))


def _red_on_pattern(bundle: dict[str, Any]) -> bytes:
    """GREEN on every object, and RED on the indicators' `pattern` alone (granular)."""
    bundle = copy.deepcopy(bundle)
    red = stix.tlp_marking("red")
    bundle["objects"].append(json.loads(red.serialize()))
    for obj in bundle["objects"]:
        if obj["type"] == "indicator":
            obj["granular_markings"] = [{"marking_ref": red.id, "selectors": ["pattern"]}]
    return json.dumps(bundle).encode()


def test_red_on_one_property_makes_the_whole_bundle_red(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    """Penetration test, finding 2: a GREEN indicator with a RED pattern was stored as GREEN."""
    counsel = actor_for("counsel")
    data = _red_on_pattern(_bundle(campaign_case, counsel, "green"))

    outcome = operations.import_bundle(data, Actor.cli_operator(), source="Nimbus Watch")
    db.session.commit()

    assert outcome.intel_import.tlp == "red"
    assert outcome.matches, "the indicators still match our subjects"
    provenance = operations.intel_findings(campaign_case)
    assert {p.tlp for p in provenance.values()} == {"red"}
    assert all(p.restricted and p.source == "Nimbus Watch" for p in provenance.values())
    # ... so none of it reaches a takedown, a referral or a re-export.
    from compliance.packets.operations import request_packet

    # Left out of a referral on its own (in community or not); naming it is refused.
    fields = {"recipient_in_community": True}
    assert request_packet(campaign_case, "referral", counsel, fields=fields).id
    with pytest.raises(InvalidInput) as refused:
        exhibits = [f"finding:{finding_id}" for finding_id in sorted(provenance)]
        request_packet(campaign_case, "referral", counsel, fields={**fields, "exhibits": exhibits})
    assert "TLP:RED: never leaves" in refused.value.details["exhibits"]
    db.session.rollback()
    with pytest.raises(operations.SharingRefused):
        operations.export_case(
            campaign_case,
            counsel,
            tlp="red",
            recipient="forum",
            finding_ids=sorted(provenance),
        )


def test_object_markings_the_strictest_of_several_wins() -> None:
    declared = stix.declared_tlp_ids([])
    obj = {
        "object_marking_refs": [stix.TLP2_IDS["green"], stix.TLP2_IDS["amber"]],
        "granular_markings": [
            {"marking_ref": stix.TLP2_IDS["amber+strict"], "selectors": ["name"]},
            {"lang": "en", "selectors": ["description"]},
        ],
    }
    assert stix.object_tlp(obj, declared) == "amber+strict"
    assert stix.object_tlp({"object_marking_refs": [stix.TLP2_IDS["clear"]]}, declared) == "clear"
    assert stix.object_tlp({}, declared) is None


def test_intel_is_not_re_exported_below_the_marking_it_came_with(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    counsel = actor_for("counsel")
    data = json.dumps(_bundle(campaign_case, counsel, "amber")).encode()
    operations.import_bundle(data, Actor.cli_operator(), source="Corvid Labs")
    db.session.commit()
    intel = sorted(operations.intel_findings(campaign_case))
    assert intel

    with pytest.raises(operations.SharingRefused, match="TLP:GREEN"):
        operations.export_case(
            campaign_case, counsel, tlp="green", recipient="forum", finding_ids=intel
        )
    db.session.rollback()
    record = operations.export_case(
        campaign_case, counsel, tlp="amber", recipient="forum", finding_ids=intel
    )
    assert [f["finding_id"] for f in record.shared_findings] == intel


def test_the_campaign_period_never_comes_from_intel_marked_above_the_export(
    app: Any, campaign_case: Any, actor_for: Any, ingest: Any
) -> None:
    """A CLEAR export carried a date taken from a RED indicator through the case's window."""
    counsel = actor_for("counsel")
    bundle = _bundle(campaign_case, counsel, "red")
    for obj in bundle["objects"]:
        if obj["type"] == "indicator":
            obj["valid_from"] = "2025-01-02T03:04:05Z"  # long before anything we saw
        if obj["type"] == "campaign":
            obj["first_seen"] = "2025-01-02T03:04:05Z"
    outcome = operations.import_bundle(
        json.dumps(bundle).encode(), Actor.cli_operator(), source="Nimbus Watch"
    )
    db.session.commit()
    assert outcome.intel_import.first_seen.year == 2025
    assert outcome.intel_import.valid_from.isoformat().startswith("2025-01-02T03:04:05")

    record = operations.export_case(campaign_case, counsel, tlp="clear", recipient="public")
    text = operations.stored_bundle(record.sha256).decode()
    assert "2025-01-02" not in text
    campaign = next(o for o in json.loads(text)["objects"] if o["type"] == "campaign")
    assert campaign["first_seen"].startswith("2026-10-01")


def test_bundles_exported_before_the_extensions_are_still_read(app: Any, ingest: Any) -> None:
    """The sample bundles (custom type x-distillation-subject) match as before."""
    data = (SAMPLES / "legacy-corvid-amber.json").read_bytes()
    assert b"x-distillation-subject" in data
    received = stix.read_bundle(data, max_bytes=5_000_000, unmarked_policy="refuse")
    assert received.tlp == "amber"
    assert {i.match_kind for i in received.indicators} >= {"hmac"}
    assert received.first_seen is not None and received.last_seen is not None

    outcome = operations.import_bundle(data, Actor.cli_operator(), source="Corvid Labs")
    db.session.commit()
    assert outcome.intel_import.indicator_count == received.indicator_count
    assert outcome.intel_import.first_seen == received.first_seen


def test_a_new_form_bundle_round_trips_between_two_instances(
    app: Any, campaign_case: Any, actor_for: Any, other_lab: Any, ingest: Any
) -> None:
    data = json.dumps(_bundle(campaign_case, actor_for("counsel"), "amber")).encode()
    with other_lab.app_context():
        theirs = ingest([("account", ACCOUNT)])
        outcome = operations.import_bundle(data, Actor.cli_operator(), source="Meridian AI")
        db.session.commit()
        assert {m.case.ref for m in outcome.matches} == {theirs.ref}
