"""Property tests of the finding schema: valid findings pass, every broken one is refused
with an error naming the broken field, and validation never raises anything else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.cases.models import SEVERITIES
from compliance.evidence.models import FINDING_KINDS as KINDS
from compliance.evidence.schema import validate_batch
from tests.security.helpers import make_finding

REQUIRED = [
    "schema",
    "detector",
    "external_id",
    "kind",
    "observed_from",
    "observed_to",
    "confidence",
    "severity",
    "subjects",
    "summary",
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
ident = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,60}\Z")
subject = st.one_of(
    st.builds(lambda v: {"type": "account", "id": v}, ident),
    st.builds(lambda v: {"type": "api_key", "id": v}, ident),
    st.builds(
        lambda a, b: {"type": "ip_prefix", "id": f"10.{a}.{b}.0/24"},
        st.integers(0, 255),
        st.integers(0, 255),
    ),
    st.builds(
        lambda v: {"type": "email_domain", "id": f"{v}.example"}, st.from_regex(r"\A[a-z]{1,20}\Z")
    ),
)


@st.composite
def valid_findings(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(aware)
    end = start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
    data = draw(st.binary(max_size=200))
    return make_finding(
        detector={
            "name": draw(ident),
            "version": draw(st.from_regex(r"\A[0-9]{1,3}(\.[0-9]{1,3}){0,2}\Z")),
        },
        external_id=draw(ident),
        kind=draw(st.sampled_from(KINDS)),
        observed_from=start.isoformat(),
        observed_to=end.isoformat().replace("+00:00", "Z"),
        confidence=draw(st.floats(0, 1)),
        severity=draw(st.sampled_from(SEVERITIES)),
        subjects=draw(st.lists(subject, min_size=1, max_size=5)),
        summary=draw(st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s)),
        metrics=draw(
            st.dictionaries(
                st.text(max_size=10).filter(lambda s: "\x00" not in s),
                st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.booleans(),
                max_size=5,
            )
        ),
        attachments=[
            {
                "name": "data.bin",
                "media_type": "application/octet-stream",
                "content_base64": base64.b64encode(data).decode(),
            }
        ],
    )


not_a_string = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)
)
naive_or_not_time = st.one_of(
    not_a_string,
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(
        lambda d: d.isoformat()  # no zone
    ),
    st.text(max_size=30).filter(lambda s: not s[:4].isdigit()),
)
BAD_NAMES = ["../x.csv", "a/b.csv", "..\\x", ".hidden", "", "x" * 300, "nul\x00.csv"]

MUTATIONS: dict[str, Any] = {
    "schema": st.one_of(not_a_string, st.text().filter(lambda s: s != "distillation-finding/v1")),
    "detector": st.one_of(
        not_a_string,
        st.just({"name": "", "version": "1"}),
        st.just({"name": "d", "version": "1", "extra": 1}),
        st.builds(lambda n: {"name": n, "version": "1"}, not_a_string),
    ),
    "external_id": st.one_of(
        not_a_string,
        st.just(""),
        st.text(min_size=1, max_size=20).filter(
            lambda s: any(not (c.isascii() and (c.isalnum() or c in "._:-")) for c in s)
        ),
        st.just("x" * 201),
    ),
    "kind": st.one_of(not_a_string, st.text(max_size=20).filter(lambda s: s not in KINDS)),
    "observed_from": naive_or_not_time,
    "observed_to": naive_or_not_time,
    "confidence": st.one_of(
        st.floats().filter(lambda f: not 0 <= f <= 1),
        st.booleans(),
        st.text(max_size=5),
        st.none(),
        st.integers().filter(lambda i: i not in (0, 1)),
    ),
    "severity": st.one_of(not_a_string, st.text(max_size=20).filter(lambda s: s not in SEVERITIES)),
    "subjects": st.one_of(
        st.just([]),
        not_a_string.filter(lambda v: not isinstance(v, list) or v),
        st.just([{"type": "ssn", "id": "1"}]),
        st.just([{"type": "ip_prefix", "id": "300.1.1.1/8"}]),
        st.just([{"type": "account", "id": "has space"}]),
    ),
    "summary": st.one_of(not_a_string, st.just(""), st.just("s" * 10_001)),
    "metrics": st.one_of(
        st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3), st.booleans()
    ),
    "sample_prompts": st.one_of(
        st.integers(), st.text(max_size=5), st.lists(st.integers(), min_size=1, max_size=3)
    ),
    "attachments": st.one_of(
        st.sampled_from(BAD_NAMES).map(
            lambda n: [{"name": n, "media_type": "text/csv", "content_base64": "YQ=="}]
        ),
        st.sampled_from(["YQ", "Y Q==", "YQ==YQ==", "!!!!", "YR=="]).map(
            lambda b: [{"name": "a.csv", "media_type": "text/csv", "content_base64": b}]
        ),
        st.just([{"name": "a.csv", "media_type": "text/csv"}]),
    ),
}


@SETTINGS
@given(valid_findings())
def test_valid_findings_are_accepted(finding: dict[str, Any]) -> None:
    findings, errors = validate_batch([finding])
    assert errors == [] and len(findings) == 1


@SETTINGS
@given(valid_findings(), st.sampled_from(sorted(MUTATIONS)), st.data())
def test_a_broken_field_is_refused_with_an_error_on_that_field(
    finding: dict[str, Any], field: str, data: st.DataObject
) -> None:
    finding[field] = data.draw(MUTATIONS[field], label=field)
    findings, errors = validate_batch([finding])
    assert findings == [], finding
    assert errors, finding
    for error in errors:
        assert error["index"] == 0 and error["message"]
        assert error["field"].split(".")[0] == field, (field, errors)


@SETTINGS
@given(valid_findings(), st.sampled_from(REQUIRED))
def test_a_missing_required_field_is_named(finding: dict[str, Any], field: str) -> None:
    del finding[field]
    _findings, errors = validate_batch([finding])
    assert {e["field"] for e in errors} == {field}


@SETTINGS
@given(
    valid_findings(),
    st.text(min_size=1, max_size=20).filter(lambda k: k not in MUTATIONS and "\x00" not in k),
    st.integers(),
)
def test_an_unknown_field_is_refused(finding: dict[str, Any], key: str, value: int) -> None:
    finding[key] = value
    _findings, errors = validate_batch([finding])
    assert errors == [{"index": 0, "field": key, "message": "unknown field"}]


@SETTINGS
@given(st.lists(valid_findings(), min_size=2, max_size=4), st.data())
def test_one_bad_item_spoils_the_batch_and_is_located(
    batch: list[dict[str, Any]], data: st.DataObject
) -> None:
    for position, item in enumerate(batch):
        item["external_id"] = f"{item['external_id'][:150]}-{position}"
    bad = data.draw(st.integers(0, len(batch) - 1))
    batch[bad]["severity"] = "apocalyptic"
    findings, errors = validate_batch(batch)
    assert {e["index"] for e in errors} == {bad}
    assert errors[0]["field"] == "severity"
