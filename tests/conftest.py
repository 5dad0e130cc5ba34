"""Fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

Each test gets its own database, copied from a migrated template (a file copy on SQLite,
CREATE DATABASE ... TEMPLATE on PostgreSQL), so tests commit for real and stay independent.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from compliance import create_app
from compliance.actor import Actor
from compliance.extensions import db
from compliance.migrate import upgrade

PG_URL = os.environ.get("COMPLIANCE_TEST_POSTGRES_URL")
# The Redis the shared rate-limit tests use (`.ci/run` starts one there).
REDIS_URL = os.environ.get("COMPLIANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_ALL = os.environ.get("COMPLIANCE_REQUIRE_ALL") == "1"
PASSWORD = "correct horse battery staple"
_counter = itertools.count()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With COMPLIANCE_REQUIRE_ALL=1 nothing may be skipped silently: a skip is a failure."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under COMPLIANCE_REQUIRE_ALL=1: {report.longrepr}"


def postgres_admin_url() -> str:
    url = make_url(PG_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _pg_execute(sql: str) -> None:
    engine = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def pg_url_for(database: str) -> str:
    return make_url(postgres_admin_url()).set(database=database).render_as_string(False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("COMPLIANCE_TEST_POSTGRES_URL not set: PostgreSQL tests skipped")
    name = f"cmp_tmpl_{os.getpid()}"
    _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _pg_execute(f"CREATE DATABASE {name}")
    upgrade(pg_url_for(name))
    yield name
    _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis_url() -> Iterator[tuple[str, str]]:
    """(Redis URL, a key prefix unique to this test); the test's keys are removed afterwards."""
    import uuid

    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.skip(f"no Redis at {REDIS_URL} (COMPLIANCE_TEST_REDIS_URL): {error}")
    prefix = f"compliance-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    yield REDIS_URL, prefix
    for key in client.scan_iter(match=f"*{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    if backend == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cmp_t_{os.getpid()}_{next(_counter)}"
    _pg_execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield pg_url_for(name)
    _pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def app_settings(database_url: str, root: Path) -> dict[str, Any]:
    """The app configuration of a test: this database, folders under `root`."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(root / "instance"),
        "EVIDENCE_DIR": str(root / "evidence"),
        "CHECKPOINT_DIR": str(root / "checkpoints"),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "compliance.test",
    }


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, tmp_path)


class CommittingClient(FlaskClient):
    """A test client that first commits the test's own session.

    Tests arrange data in their session, then act through requests (each request has its own
    app context and session). Committing first makes the arrangement visible and ends the
    test session's read snapshot, so its next write does not collide with what the request
    wrote (SQLite).
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        db.session.commit()
        # A fresh app context per request, as in production: Flask would otherwise reuse the
        # test's context, and `g` (where flask-login caches the user) would leak across clients.
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.commit()
        return response


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app, with an application context pushed so tests can call operations directly."""
    application = create_app(app_config)
    application.test_client_class = CommittingClient
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def operator() -> Actor:
    return Actor.cli_operator()


@pytest.fixture
def make_user(app: Flask, operator: Actor) -> Callable[..., Any]:
    """Factory: make_user("counsel") creates and commits a user with that role."""
    from compliance.auth.operations import create_user

    def factory(role: str, email: str | None = None, name: str | None = None) -> Any:
        email = email or f"{role}{next(_counter)}@lab.example"
        user = create_user(operator, email, role, PASSWORD, name or f"{role.title()} {email[:3]}")
        db.session.commit()
        return user

    return factory


@pytest.fixture
def actor_for(make_user: Callable[..., Any]) -> Callable[[str], Actor]:
    """Factory: actor_for("analyst") makes a user with that role and returns its Actor."""
    return lambda role: Actor.for_user(make_user(role))


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, user: Any, password: str = PASSWORD) -> Any:
        return self.client.post("/login", data={"email": user.email, "password": password})

    def logout(self) -> Any:
        return self.client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def login_as(app: Flask, make_user: Callable[..., Any]) -> Callable[[str], tuple[Any, FlaskClient]]:
    """Factory: login_as("counsel") -> (user, a test client signed in as that user)."""

    def factory(role: str) -> tuple[Any, FlaskClient]:
        user = make_user(role)
        client = app.test_client()
        response = AuthActions(client).login(user)
        assert response.status_code == 302, response.data
        return user, client

    return factory


@pytest.fixture
def make_case(app: Flask, operator: Actor) -> Callable[..., Any]:
    """Factory: make_case(state=..., **fields) opens a case through the operations."""
    from compliance.cases import operations

    def factory(actor: Actor | None = None, **fields: Any) -> Any:
        fields.setdefault("title", "Templated coding prompts from 212 accounts")
        case = operations.create_case(actor or operator, **fields)
        db.session.commit()
        return case

    return factory


def count_queries(client: FlaskClient, url: str) -> int:
    """How many SQL statements GET `url` runs (it must answer 200)."""
    count = 0

    def count_it(*args: Any, **kwargs: Any) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", count_it)
    try:
        response = client.get(url)
        assert response.status_code == 200, url
    finally:
        event.remove(db.engine, "before_cursor_execute", count_it)
    return count
