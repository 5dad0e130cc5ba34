"""Sign-in throttling counted in Redis, shared by every web process and host.

With `memory://` each process counts alone: behind a load balancer an attacker gets the limit
once per process. With COMPLIANCE_RATELIMIT_STORAGE_URI=redis://... the count is shared.
"""

from __future__ import annotations

from typing import Any

import pytest

from compliance import create_app
from compliance.extensions import db

LIMIT = 4


def _host(app_config: dict[str, Any], storage: str, prefix: str) -> Any:
    return create_app(
        {
            **app_config,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": prefix,
            "LOGIN_RATE_LIMIT": f"{LIMIT} per hour",
        }
    )


def _wrong_password(app: Any) -> int:
    with app.app_context():
        response = app.test_client().post(
            "/login", data={"email": "nobody@lab.example", "password": "guess"}
        )
        db.session.remove()
    return response.status_code


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_failed_sign_ins_on_two_hosts_share_one_redis_count(app_config, redis_url):
    url, prefix = redis_url
    first, second = _host(app_config, url, prefix), _host(app_config, url, prefix)
    statuses = [_wrong_password(first if i % 2 else second) for i in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]  # neither host alone saw more than 3 attempts
    with first.app_context():
        assert first.test_client().get("/api/v1/health").json["rate_limits"] == "ok"
        db.session.remove()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sign_in_still_answers_when_redis_is_away(app_config, redis_url):
    """Redis down: each process counts in memory until it returns (no 500 on the sign-in)."""
    _url, prefix = redis_url
    host = _host(app_config, "redis://127.0.0.1:1/0", prefix)  # nothing listens there
    statuses = [_wrong_password(host) for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
    with host.app_context():
        health = host.test_client().get("/api/v1/health")
        db.session.remove()
    assert health.status_code == 200  # the host stays in the pool; monitoring sees why
    assert health.json["rate_limits"] == "unreachable (counting in memory)"
