"""One request cannot exhaust a worker: batches, error lists and intel bundles have limits.

The penetration test sent `[{}, {}, ...]` with 900,000 items (2.7 MB): the worker grew to
3.65 GB building one error per item until gunicorn killed it; a 20 MB `[1,1,...]` body
produced a 679 MB 422 answer. These tests send the same bodies and measure what the request
allocates (tracemalloc's peak, in this process).
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from sqlalchemy import func, select

from compliance.errors import InvalidInput
from compliance.extensions import db
from compliance.intel.models import IntelImport
from tests.evidence.conftest import count_rows

MiB = 1024 * 1024


def _peak_during(call: Any) -> tuple[Any, int]:
    """Run `call`; return its result and the peak memory Python allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = call()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_batch_of_900000_empty_items_is_refused_in_bounded_memory(app, post_findings):
    body = b"[" + b",".join([b"{}"] * 900_000) + b"]"
    assert len(body) > 2_700_000
    before = count_rows()
    response, peak = _peak_during(
        lambda: post_findings(None, data=body, content_type="application/json")
    )
    print(f"\n900,000-item batch: {response.status_code}, peak {peak / MiB:.1f} MiB")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large" and "at most 1,000 findings" in error["message"]
    assert len(response.data) < 2000
    assert peak < 16 * MiB  # the body twice (bytes and text) and 1,001 decoded items
    assert count_rows() == before


def test_a_20_mb_body_of_numbers_is_a_short_refusal(app, post_findings):
    body = b"[" + b",".join([b"1"] * (10 * MiB - 1)) + b"]"
    assert len(body) >= 20 * MiB - 4
    response, peak = _peak_during(
        lambda: post_findings(None, data=body, content_type="application/json")
    )
    print(f"\n20 MB body of numbers: {response.status_code}, peak {peak / MiB:.1f} MiB")
    assert response.status_code == 413
    assert len(response.data) < 2000  # was a 679 MB 422
    assert peak < 64 * MiB


def test_the_error_list_names_the_first_100_problems_and_counts_all(app, post_findings, finding):
    batch = [finding(severity="catastrophic", kind="guess") for _ in range(300)]
    response = post_findings(batch)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert len(error["details"]) == 100
    assert "300 of 300 finding(s) are not valid" in error["message"]
    assert "the first 100 of 600 problems are listed" in error["message"]


def test_the_batch_limit_is_configurable_and_applies_to_every_channel(app, finding):
    from compliance.actor import Actor
    from compliance.errors import BatchTooLarge
    from compliance.evidence.operations import ingest_findings

    app.config["MAX_BATCH_ITEMS"] = 3
    with pytest.raises(BatchTooLarge, match="at most 3 per batch"):
        ingest_findings([finding() for _ in range(4)], Actor.cli_operator(), channel="cli")
    assert len(ingest_findings([finding() for _ in range(3)], Actor.cli_operator())) == 3


def _bundle(objects: list[Any]) -> bytes:
    return json.dumps(
        {"type": "bundle", "id": "bundle--6f1f5d3c-5c1a-4b53-9a3a-0c2b8f1e9d11", "objects": objects}
    ).encode()


def test_an_intel_bundle_with_too_many_objects_is_refused_before_matching(app, actor_for):
    from compliance.intel.operations import import_bundle

    counsel = actor_for("counsel")
    app.config["INTEL_MAX_BUNDLE_OBJECTS"] = 50
    with pytest.raises(InvalidInput, match="51 objects, more than the 50 allowed"):
        import_bundle(_bundle([{"type": "indicator"}] * 51), counsel, source="Partner lab")
    assert db.session.scalar(select(func.count()).select_from(IntelImport)) == 0


@pytest.mark.parametrize("depth", [40, 200_000])
def test_a_deeply_nested_intel_bundle_is_a_clear_refusal_not_a_500(app, login_as, depth):
    import io

    _user, client = login_as("counsel")
    nested = "[" * depth + "]" * depth
    data = ('{"type": "bundle", "objects": [{"type": "note", "x": ' + nested + "}]}").encode()
    response = client.post(
        "/intel/import",
        data={"file": (io.BytesIO(data), "bundle.json"), "source": "forum"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Bundle refused" in page
    assert "nests deeper than 32 levels" in page
    assert db.session.scalar(select(func.count()).select_from(IntelImport)) == 0
