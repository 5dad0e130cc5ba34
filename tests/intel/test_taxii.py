"""TAXII 2.1 both ways: our client against OASIS's reference server (medallion) as the partner,
and the maintained client (taxii2-client) against our server. TLP holds over TAXII."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from compliance.actor import Actor
from compliance.audit.models import AuditEvent
from compliance.errors import InvalidInput, PermissionDenied
from compliance.extensions import db
from compliance.intel import operations, taxii_client, taxii_server
from compliance.intel.models import IntelImport, TaxiiFeed
from tests.intel.conftest import ACCOUNT, PAYMENT, RAW_IDENTIFIERS

MEDALLION_USER, MEDALLION_PASSWORD = "partner", "medallion-secret"
PARTNER_API_ROOT = "trustgroup1"
PARTNER_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Served on a real port: no fixed test server name.
    return {**app_config, "SERVER_NAME": None}


def _serve(wsgi_app: Any) -> tuple[Any, threading.Thread, str]:
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="session")
def medallion_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """OASIS's reference TAXII 2.1 server, in this process on a free port (one per session:
    medallion is a global Flask app whose blueprints can be registered only once)."""
    import medallion
    from medallion import common
    from medallion.backends import memory_backend
    from medallion.filters import basic_filter

    # medallion 3.0.0 reads an object's `version` property as its TAXII version (a timestamp);
    # STIX 2.1 extension definitions carry `version` too ("1.0.0"), and it fails with a 500.
    # Stand-in fix for the reference server only: STIX objects (they have a `type`) are
    # versioned by modified/created, as TAXII 2.1 says; manifest entries keep `version`.
    original = common.find_att

    def find_att(obj: dict[str, Any]) -> Any:
        if "type" in obj and "version" in obj:
            obj = {k: v for k, v in obj.items() if k != "version"}
        return original(obj)

    basic_filter.find_att = find_att
    memory_backend.find_att = find_att

    folder = tmp_path_factory.mktemp("medallion")
    config = folder / "config.json"
    config.write_text(
        json.dumps(
            {
                "users": {MEDALLION_USER: MEDALLION_PASSWORD},
                "taxii": {"max_page_size": 100},
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                },
            }
        )
    )
    application = medallion.load_app(str(config))
    server, thread, url = _serve(application)
    application.base_url = url
    yield application
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def partner_taxii(medallion_server: Any, tmp_path: Path) -> str:
    """A fresh partner collection in medallion's memory backend; returns the API root URL.

    Its data file names its own URLs; medallion's sample hard-codes localhost:5000, so the
    data is written here with the real port.
    """
    from medallion.backends.memory_backend import MemoryBackend

    base = medallion_server.base_url
    data = {
        "/discovery": {
            "title": "Corvid Labs TAXII",
            "description": "reference server standing in for a partner lab",
            "default": f"{base}/{PARTNER_API_ROOT}/",
            "api_roots": [f"{base}/{PARTNER_API_ROOT}/"],
        },
        PARTNER_API_ROOT: {
            "information": {
                "title": "Forum sharing",
                "description": "",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9_765_625,
            },
            "status": [],
            "collections": [
                {
                    "id": PARTNER_COLLECTION,
                    "title": "Distillation indicators",
                    "description": "",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    path = tmp_path / "medallion-data.json"
    path.write_text(json.dumps(data))
    medallion_server.medallion_backend = MemoryBackend(filename=str(path))
    return f"{base}/{PARTNER_API_ROOT}/"


def _partner_objects(medallion_server: Any) -> list[dict[str, Any]]:
    data = medallion_server.medallion_backend.data
    return data[PARTNER_API_ROOT]["collections"][0]["objects"]


def _feed(actor: Actor, url: str, partner: str) -> TaxiiFeed:
    feed = taxii_client.add_feed(
        actor,
        partner=partner,
        api_root_url=url,
        collection=PARTNER_COLLECTION,
        username=MEDALLION_USER,
        secret=MEDALLION_PASSWORD,
    )
    db.session.commit()
    return feed


def test_push_to_and_pull_from_the_reference_server_round_trips_a_bundle(
    app: Any,
    campaign_case: Any,
    actor_for: Any,
    other_lab: Any,
    ingest: Any,
    medallion_server: Any,
    partner_taxii: str,
) -> None:
    counsel = actor_for("counsel")
    export = operations.export_case(campaign_case, counsel, tlp="amber", recipient="Corvid Labs")
    db.session.commit()
    ours = json.loads(operations.stored_bundle(export.sha256))["objects"]
    feed = _feed(counsel, partner_taxii, "Corvid Labs")

    result = taxii_client.push_export(counsel, export, feed)
    db.session.commit()

    assert result["status"] == "complete" and result["success_count"] == len(ours)
    stored = {o["id"]: o for o in _partner_objects(medallion_server)}
    for obj in ours:  # hashed subjects and markings arrive intact
        assert {k: v for k, v in stored[obj["id"]].items() if k != "_date_added"} == obj
    assert any(o["type"] == "distillation-subject" for o in stored.values())
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intel.pushed"))
    assert event.details["status"] == "complete" and event.case_ref == campaign_case.ref
    secret_column = db.session.scalar(select(TaxiiFeed.secret))
    assert MEDALLION_PASSWORD not in secret_column  # encrypted at rest

    with other_lab.app_context():
        theirs = ingest([("account", ACCOUNT), ("payment_fingerprint", PAYMENT)])
        analyst_feed = _feed(Actor.cli_operator(), partner_taxii, "Meridian AI")
        from compliance.intel.tasks import poll_taxii_feeds

        first = poll_taxii_feeds()["feeds"]
        assert [r["objects"] for r in first] == [len(ours)]
        received = db.session.scalar(select(IntelImport))
        assert received.tlp == "amber" and received.source == "Meridian AI"
        assert received.feed_id == analyst_feed.id
        assert received.first_seen is not None  # the period of conduct travelled too
        matched = db.session.scalar(
            select(func.count()).select_from(IntelImport).where(IntelImport.id == received.id)
        )
        assert matched == 1
        assert {m.case.ref for m in operations.matches_for_case(theirs)} == {theirs.ref}
        bundle = operations.stored_bundle(received.sha256).decode()
        assert all(raw.lower() not in bundle.lower() for raw in RAW_IDENTIFIERS)

        # The cursor is the partner server's own date_added: nothing comes twice.
        second = poll_taxii_feeds()["feeds"]
        assert [r["objects"] for r in second] == [0]
        assert db.session.get(TaxiiFeed, analyst_feed.id).cursor
        actions = [
            e.action
            for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("taxii.%")))
        ]
        assert actions.count("taxii.polled") == 2


def test_a_large_pull_is_imported_in_parts_under_the_size_limit(
    app: Any,
    campaign_case: Any,
    actor_for: Any,
    other_lab: Any,
    ingest: Any,
    partner_taxii: str,
) -> None:
    counsel = actor_for("counsel")
    export = operations.export_case(campaign_case, counsel, tlp="amber", recipient="Corvid Labs")
    db.session.commit()
    taxii_client.push_export(counsel, export, _feed(counsel, partner_taxii, "Corvid Labs"))
    db.session.commit()
    limit = export.size_bytes // 2

    with other_lab.app_context():
        other_lab.config["INTEL_MAX_BUNDLE_BYTES"] = limit
        theirs = ingest([("account", ACCOUNT), ("payment_fingerprint", PAYMENT)])
        feed = _feed(Actor.cli_operator(), partner_taxii, "Meridian AI")
        summary = taxii_client.poll_feed(feed, Actor.cli_operator())
        db.session.commit()
        assert len(summary["imports"]) >= 2 and summary["tlp"] == ["TLP:AMBER"]
        imports = db.session.scalars(select(IntelImport)).all()
        assert all(i.size_bytes <= limit for i in imports)
        matched = {m.subject_id for m in operations.matches_for_case(theirs)}
        assert len(matched) == 2  # both subjects, whichever part carried their indicator


def test_a_partner_that_refuses_the_credential_fails_the_poll_cleanly(
    app: Any, actor_for: Any, partner_taxii: str
) -> None:
    counsel = actor_for("counsel")
    feed = taxii_client.add_feed(
        counsel,
        partner="Corvid Labs",
        api_root_url=partner_taxii,
        collection=PARTNER_COLLECTION,
        username=MEDALLION_USER,
        secret="wrong",
    )
    db.session.commit()
    from compliance.intel.tasks import poll_taxii_feeds

    results = poll_taxii_feeds()["feeds"]
    assert "401" in results[0]["error"]
    feed = db.session.get(TaxiiFeed, feed.id)
    assert feed.cursor is None and feed.last_result.startswith("failed")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "taxii.poll_failed"))


def test_amber_goes_only_to_its_named_recipient(
    app: Any, campaign_case: Any, actor_for: Any, partner_taxii: str
) -> None:
    counsel = actor_for("counsel")
    export = operations.export_case(campaign_case, counsel, tlp="amber", recipient="Halcyon Labs")
    db.session.commit()
    feed = _feed(counsel, partner_taxii, "Corvid Labs")
    with pytest.raises(operations.SharingRefused, match="only to that recipient"):
        taxii_client.push_export(counsel, export, feed)


# ---------------------------------------------------------------- our server, their client
@pytest.fixture
def our_server(app: Any) -> Iterator[str]:
    server, thread, url = _serve(app)
    yield url
    server.shutdown()
    thread.join(timeout=10)


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def _published(case: Any, counsel: Actor, collection: Any, tlp: str, recipient: str) -> Any:
    export = operations.export_case(case, counsel, tlp=tlp, recipient=recipient)
    taxii_server.publish_export(counsel, export, collection)
    db.session.commit()
    return export


def _ids(export: Any) -> set[str]:
    return {o["id"] for o in json.loads(operations.stored_bundle(export.sha256))["objects"]}


def test_taxii2_client_reads_our_collection_under_the_tlp_rules(
    app: Any,
    campaign_case: Any,
    actor_for: Any,
    our_server: str,
    other_lab: Any,
    ingest: Any,
) -> None:
    from taxii2client.v21 import Server, as_pages

    counsel = actor_for("counsel")
    forum = taxii_server.create_collection(
        counsel, title="Forum indicators", community="Distillation forum", max_tlp="amber+strict"
    )
    _token, raw = taxii_server.create_partner_token(
        counsel, partner="Corvid Labs", collection=forum
    )
    db.session.commit()
    amber = _published(campaign_case, counsel, forum, "amber", "Distillation forum")
    for_corvid = _published(campaign_case, counsel, forum, "amber+strict", "Corvid Labs")
    for_halcyon = _published(campaign_case, counsel, forum, "amber+strict", "Halcyon Labs")
    red = operations.export_case(campaign_case, counsel, tlp="red", recipient="Corvid Labs")
    with pytest.raises(operations.SharingRefused, match="never published"):
        taxii_server.publish_export(counsel, red, forum)
    db.session.commit()

    server = Server(f"{our_server}/taxii2/", auth=_Bearer(raw))
    assert [r.url for r in server.api_roots] == [f"{our_server}/taxii2/intel/"]
    collections = server.api_roots[0].collections
    assert [c.id for c in collections] == [forum.taxii_id] and collections[0].can_read
    collection = collections[0]
    objects = []
    for envelope in as_pages(collection.get_objects, per_request=7):
        objects += envelope.get("objects", [])
    served = {o["id"] for o in objects}

    assert served == _ids(amber) | _ids(for_corvid)
    originals: dict[str, list[Any]] = {}
    for export in (amber, for_corvid):
        for obj in json.loads(operations.stored_bundle(export.sha256))["objects"]:
            originals.setdefault(obj["id"], []).append(obj)
    assert all(o in originals[o["id"]] for o in objects)  # hashes and markings intact
    assert not (_ids(for_halcyon) - _ids(amber) - _ids(for_corvid)) & served  # not theirs
    assert not (_ids(red) - _ids(amber) - _ids(for_corvid)) & served  # RED never served
    assert len(objects) == len({(o["id"], o.get("modified", "")) for o in objects})

    indicators = collection.get_objects(type="indicator")["objects"]
    assert indicators and {o["type"] for o in indicators} == {"indicator"}
    manifest = collection.get_manifest()["objects"]
    assert {m["id"] for m in manifest} == served
    last = max(m["date_added"] for m in manifest)
    assert collection.get_objects(added_after=last).get("objects", []) == []
    one = next(iter(sorted(served)))
    assert [o["id"] for o in collection.get_object(one)["objects"]] == [one]

    db.session.rollback()  # end this session's read snapshot: see what the server wrote
    reads = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "taxii.read")).all()
    assert reads and all(e.actor == "taxii:Corvid Labs" for e in reads)
    assert {"discovery", "collections", "objects", "manifest", "object"} <= {
        e.details["endpoint"] for e in reads
    }
    assert sum(e.details.get("objects", 0) for e in reads if e.details["endpoint"] == "objects")

    # What the partner pulled imports on their side with hashed subjects and markings intact.
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    with other_lab.app_context():
        theirs = ingest([("account", ACCOUNT)])
        outcome = operations.import_bundle(
            json.dumps(bundle).encode(), Actor.cli_operator(), source="Meridian AI (TAXII)"
        )
        db.session.commit()
        assert outcome.intel_import.tlp == "amber+strict"
        assert {m.case.ref for m in outcome.matches} == {theirs.ref}


def test_our_server_refuses_what_it_should(
    app: Any, campaign_case: Any, actor_for: Any, our_server: str
) -> None:
    counsel = actor_for("counsel")
    green = taxii_server.create_collection(
        counsel, title="Public-ish", community="Wider community", max_tlp="green"
    )
    token, raw = taxii_server.create_partner_token(counsel, partner="Corvid Labs", collection=green)
    other = taxii_server.create_collection(
        counsel, title="Other", community="Other community", max_tlp="amber"
    )
    db.session.commit()
    amber = operations.export_case(campaign_case, counsel, tlp="amber", recipient="forum")
    with pytest.raises(operations.SharingRefused, match="above what collection"):
        taxii_server.publish_export(counsel, amber, green)
    db.session.rollback()
    with pytest.raises(InvalidInput, match="not created"):
        taxii_server.create_collection(counsel, title="x", community="y", max_tlp="red")
    with pytest.raises(PermissionDenied):
        taxii_server.create_partner_token(actor_for("analyst"), partner="x", collection=green)
    db.session.rollback()

    base = f"{our_server}/taxii2/intel"
    accept = {"Accept": "application/taxii+json;version=2.1"}
    bearer = {**accept, "Authorization": f"Bearer {raw}"}
    assert requests.get(f"{base}/collections/", headers=accept, timeout=10).status_code == 401
    ok = requests.get(f"{base}/collections/", headers=bearer, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == "application/taxii+json;version=2.1"
    assert [c["id"] for c in ok.json()["collections"]] == [green.taxii_id]
    elsewhere = requests.get(
        f"{base}/collections/{other.taxii_id}/objects/", headers=bearer, timeout=10
    )
    assert elsewhere.status_code == 404  # scoped to its own collection
    wrong_type = {**bearer, "Accept": "application/taxii+json;version=2.0"}
    assert requests.get(f"{base}/collections/", headers=wrong_type, timeout=10).status_code == 406
    bad = requests.get(
        f"{base}/collections/{green.taxii_id}/objects/?added_after=yesterday",
        headers=bearer,
        timeout=10,
    )
    assert bad.status_code == 422 and bad.json()["http_status"] == "422"
    basic = requests.get(
        f"{base}/collections/", headers=accept, auth=("Corvid Labs", raw), timeout=10
    )
    assert basic.status_code == 200  # clients that speak only Basic: the token as password

    db.session.rollback()  # end this session's read snapshot before writing beside the server
    taxii_server.revoke_partner_token(counsel, token.id)
    db.session.commit()
    assert requests.get(f"{base}/collections/", headers=bearer, timeout=10).status_code == 401


def test_an_object_marked_red_inside_a_green_bundle_is_never_served(
    app: Any, campaign_case: Any, actor_for: Any
) -> None:
    """The object's own marking counts (object or granular level), not only its bundle's."""
    from compliance.evidence.store import blob_store
    from compliance.intel import stix
    from compliance.intel.models import IntelExport

    counsel = actor_for("counsel")
    community = taxii_server.create_collection(
        counsel, title="Community", community="Forum", max_tlp="amber"
    )
    token, _raw = taxii_server.create_partner_token(
        counsel, partner="Corvid Labs", collection=community
    )
    green = operations.export_case(campaign_case, counsel, tlp="green", recipient="Forum")
    bundle = json.loads(operations.stored_bundle(green.sha256))
    red = stix.tlp_marking("red")
    bundle["objects"].append(json.loads(red.serialize()))
    marked = next(o for o in bundle["objects"] if o["type"] == "indicator")
    marked["granular_markings"] = [{"marking_ref": red.id, "selectors": ["pattern"]}]
    data = json.dumps(bundle).encode()
    sha256, _new = blob_store().put(data)
    crafted = IntelExport(
        case=campaign_case,
        recipient="Forum",
        tlp="green",
        bundle_id=bundle["id"],
        sha256=sha256,
        size_bytes=len(data),
        created_by="test",
        created_by_name="test",
    )
    db.session.add(crafted)
    db.session.flush()
    taxii_server.publish_export(counsel, crafted, community)
    db.session.commit()

    served = {s.obj["id"] for s in taxii_server.readable_objects(token)}
    assert marked["id"] not in served and red.id not in served
    assert {o["id"] for o in bundle["objects"]} - {marked["id"], red.id} <= served
