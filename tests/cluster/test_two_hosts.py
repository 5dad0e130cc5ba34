"""Two web hosts and two schedulers on one PostgreSQL database and one Redis, on this machine.

The deployment the README describes for a team that outgrew one server: `compliance serve` on
two ports (standing for two machines behind a load balancer) and
two `compliance scheduler` processes, each with its own empty instance folder, so nothing one
process writes to its local disk can help another. They share only PostgreSQL (data, evidence,
packets, checkpoints), Redis (rate limits) and the secrets every host mounts (the session
secret key and the audit key).

One story, bounded in time (each wait has a deadline; the whole test takes well under a minute):
findings posted to both hosts land once; a sign-in on host A is valid on host B; a packet
requested on A and built by whichever scheduler is active downloads from B; the active
scheduler is killed (SIGKILL) and the standby takes over within HANDOVER_BOUND seconds, and no
job runs twice; a logout on A ends the session on B; failed sign-ins are counted across both
hosts; `compliance evidence verify` passes at the end, and the audit chain verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import (
    HTTPCookieProcessor,
    HTTPRedirectHandler,
    ProxyHandler,
    Request,
    build_opener,
)

import pytest
from sqlalchemy import func, select

from compliance.audit.chain import verify_chain
from compliance.audit.models import AuditEvent
from compliance.evidence.models import Finding
from compliance.extensions import db
from compliance.packets.models import Packet
from compliance.reviews.models import JobRun
from tests.conftest import PASSWORD, PG_URL
from tests.findings import make_finding

pytestmark = [
    pytest.mark.skipif(
        not PG_URL,
        reason="the cluster test needs PostgreSQL (several hosts share it): "
        "set COMPLIANCE_TEST_POSTGRES_URL",
    ),
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]

BIN = Path(sys.executable).parent
POLL_SECONDS = 1  # `compliance scheduler --poll-seconds`: how often a standby asks for the lock
# A killed leader's session ends with its socket; the standby wins at its next poll and starts
# its jobs: one poll interval plus start-up. The bound leaves room for a busy CI machine.
HANDOVER_BOUND = 8.0
LOGIN_LIMIT = 6  # sign-in attempts per hour per address, counted in Redis across all hosts


# ---------------------------------------------------------------- processes
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Cluster:
    """The processes of the deployment, each with its own log and its own instance folder."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.processes: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}
        self.started = time.monotonic()

    def start(self, name: str, *args: str) -> subprocess.Popen:
        folder = self.root / name
        folder.mkdir()
        env = {**self.env, "COMPLIANCE_INSTANCE_PATH": str(folder / "instance")}
        log = open(folder / "log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [str(BIN / "compliance"), *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.root / name / "log").read_text(errors="replace")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """A one-off command on a third machine (its own empty instance folder)."""
        env = {**self.env, "COMPLIANCE_INSTANCE_PATH": str(self.root / "operator")}
        return subprocess.run(
            [str(BIN / "compliance"), *args], env=env, capture_output=True, text=True, timeout=120
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the test looks at each 302 itself


class Browser:
    """One user's browser: one cookie jar, whichever host the load balancer picks."""

    def __init__(self) -> None:
        # No proxy from the environment: the hosts are on this machine.
        self.opener = build_opener(ProxyHandler({}), HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def open(self, url: str, form: dict[str, str] | None = None, **kwargs: Any) -> Any:
        body = None
        headers = dict(kwargs.get("headers") or {})
        if form is not None:
            body = "&".join(f"{k}={_quote(v)}" for k, v in form.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if "json" in kwargs:
            body = json.dumps(kwargs["json"]).encode()
            headers["Content-Type"] = "application/json"
        method = "POST" if body else "GET"
        request = Request(url, data=body, headers=headers, method=method)  # noqa: S310 - http://
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read(), response.headers
        except HTTPError as error:
            return error.code, error.read(), error.headers

    def csrf(self, url: str) -> str:
        status, body, _headers = self.open(url)
        assert status == 200, (url, status)
        match = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', body)
        assert match, url
        return match.group(1).decode()


def _quote(value: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(value)


# ---------------------------------------------------------------- the deployment
@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The test's own connection to the cluster's database (to arrange users and inspect)."""
    return {
        **app_config,
        "EVIDENCE_STORE": "postgresql",
        "AUDIT_KEY_PATH": str(tmp_path / "secrets" / "audit_key.pem"),
    }


@pytest.fixture
def cluster(app, database_url: str, redis_url: tuple[str, str], tmp_path: Path) -> Iterator[Any]:
    from compliance.audit.keys import instance_key

    instance_key()  # the audit key, written once into the secrets every host mounts
    redis, prefix = redis_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLIANCE_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "COMPLIANCE_DATABASE_URL": database_url,
            "COMPLIANCE_EVIDENCE_STORE": "postgresql",
            "COMPLIANCE_RATELIMIT_STORAGE_URI": redis,
            "COMPLIANCE_RATELIMIT_KEY_PREFIX": prefix,
            "COMPLIANCE_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per hour",
            "COMPLIANCE_SECRET_KEY": secrets.token_hex(32),
            "COMPLIANCE_AUDIT_KEY_PATH": app.config["AUDIT_KEY_PATH"],
            "COMPLIANCE_PACKET_POLL_SECONDS": "1",
        }
    )
    deployment = Cluster(tmp_path / "cluster", env)
    (tmp_path / "cluster").mkdir()
    try:
        ports = {}
        for host in ("host-a", "host-b"):
            ports[host] = _free_port()
            deployment.start(
                host, "serve", "--host", "127.0.0.1", "--port", str(ports[host]), "--workers", "1"
            )
        for name in ("scheduler-1", "scheduler-2"):
            deployment.start(name, "scheduler", "--poll-seconds", str(POLL_SECONDS))
        deployment.urls = {host: f"http://127.0.0.1:{port}" for host, port in ports.items()}
        for url in deployment.urls.values():
            _wait(lambda url=url: _healthy(url), 60, f"{url}/api/v1/health")
        yield deployment
    finally:
        deployment.stop()


def _healthy(url: str) -> bool:
    try:
        status, body, _headers = Browser().open(f"{url}/api/v1/health")
    except URLError:
        return False  # not listening yet
    return status == 200 and json.loads(body)["rate_limits"] == "ok"


def _active(cluster: Cluster, names: list[str]) -> str | None:
    for name in names:
        if "scheduler active" in cluster.log(name):
            return name
    return None


def _packet_stored(packet_id: int) -> Packet | None:
    db.session.rollback()  # a fresh snapshot
    packet = db.session.get(Packet, packet_id, populate_existing=True)
    assert packet.status != "failed", packet.error
    return packet if packet.status == "stored" else None


def _request_packet(browser: Browser, url: str, csrf_from: str, ref: str) -> int:
    token = browser.csrf(f"{csrf_from}/cases/{ref}/packets/new?type=memo")
    before = db.session.scalar(select(func.max(Packet.id))) or 0
    db.session.rollback()
    status, _body, headers = browser.open(
        f"{url}/cases/{ref}/packets/new?type=memo",
        form={"csrf_token": token},
    )
    assert status == 302, status
    packet_id = db.session.scalar(select(func.max(Packet.id)))
    db.session.rollback()
    assert packet_id > before
    return packet_id


def _builder(packet_id: int) -> str:
    """host:pid of the scheduler whose job run built this packet."""
    db.session.rollback()
    for run in db.session.scalars(select(JobRun).where(JobRun.job_id == "packets-queued")):
        if f"{packet_id}:stored" in (run.summary or {}).get("built", []):
            return run.host
    raise AssertionError(f"no job run built packet {packet_id}")


def test_two_hosts_and_two_schedulers_share_postgresql_and_redis(app, cluster, make_user, operator):
    from compliance.auth.operations import create_token

    started = time.monotonic()
    print(f"cluster up in {started - cluster.started:.1f} s")
    counsel = make_user("counsel", email="casey@lab.example", name="Casey Lindqvist")
    _token, raw = create_token(operator, "query-fingerprint detector", ["ingest", "read"])
    db.session.commit()
    a, b = cluster.urls["host-a"], cluster.urls["host-b"]

    # Findings posted to both hosts at once land once.
    batch = [make_finding(subjects=[{"type": "account", "id": "acct_cluster"}]) for _ in range(3)]
    answers: dict[str, Any] = {}

    def post(url: str) -> None:
        answers[url] = Browser().open(
            f"{url}/api/v1/findings", json=batch, headers={"Authorization": f"Bearer {raw}"}
        )

    threads = [threading.Thread(target=post, args=(url,)) for url in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(answers[url][0] for url in (a, b))
    assert statuses in ([200, 201], [201, 201]), answers
    results = {url: json.loads(answers[url][1])["results"] for url in (a, b)}
    assert [r["finding_id"] for r in results[a]] == [r["finding_id"] for r in results[b]]
    assert db.session.scalar(select(func.count()).select_from(Finding)) == 3
    (ref,) = {r["case_ref"] for r in results[a]}

    # A sign-in on host A is valid on host B.
    browser = Browser()
    token = browser.csrf(f"{a}/login")
    signed_in = browser.open(
        f"{a}/login", form={"email": counsel.email, "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in[0] == 302
    status, page, _headers = browser.open(f"{b}/cases/{ref}")
    assert status == 200 and b"Casey Lindqvist" in page

    # The scheduler that won the election builds a packet requested on A; B serves it.
    schedulers = ["scheduler-1", "scheduler-2"]
    leader = _wait(lambda: _active(cluster, schedulers), 60, "an active scheduler")
    first = _request_packet(browser, a, b, ref)
    packet = _wait(lambda: _packet_stored(first), 60, f"packet {first} to be built")
    status, pdf, _headers = browser.open(f"{b}/cases/{ref}/packets/{first}/download")
    assert status == 200 and hashlib.sha256(pdf).hexdigest() == packet.sha256
    assert _builder(first).endswith(f":{cluster.processes[leader].pid}")

    # The active scheduler dies without warning; the standby takes over within the bound.
    standby = next(name for name in schedulers if name != leader)
    assert "scheduler active" not in cluster.log(standby)  # exactly one was active
    killed_at = time.monotonic()
    cluster.processes[leader].send_signal(signal.SIGKILL)
    _wait(lambda: _active(cluster, [standby]), 30, "the standby to take over")
    handover = time.monotonic() - killed_at
    print(f"hand-over in {handover:.1f} s; first packet at {killed_at - started:.1f} s")
    assert handover <= HANDOVER_BOUND, f"hand-over took {handover:.1f} s"
    second = _request_packet(browser, b, a, ref)
    packet = _wait(lambda: _packet_stored(second), 60, f"packet {second} to be built")
    status, pdf, _headers = browser.open(f"{a}/cases/{ref}/packets/{second}/download")
    assert status == 200 and hashlib.sha256(pdf).hexdigest() == packet.sha256
    assert _builder(second).endswith(f":{cluster.processes[standby].pid}")

    # No job ran twice: each packet was rendered once, and no two runs of a job overlapped.
    db.session.rollback()
    for packet_id in (first, second):
        renders = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "packet.rendering", AuditEvent.object_id == str(packet_id))
        )
        assert renders == 1, f"packet {packet_id} rendered {renders} times"
    runs = db.session.scalars(select(JobRun).order_by(JobRun.job_id, JobRun.started_at)).all()
    pids = {str(cluster.processes[name].pid) for name in schedulers}
    assert {run.host.rsplit(":", 1)[1] for run in runs} <= pids
    for earlier, later in zip(runs, runs[1:], strict=False):
        if earlier.job_id == later.job_id:
            assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, (
                f"{earlier.job_id}: run {earlier.id} ({earlier.host}) overlaps {later.id}"
            )

    # A logout on A ends the session on B.
    token = browser.csrf(f"{b}/cases/{ref}")
    assert browser.open(f"{a}/logout", form={"csrf_token": token})[0] == 302
    status, _page, headers = browser.open(f"{b}/cases/{ref}")
    assert status == 302 and "/login" in headers["Location"]

    # Failed sign-ins count across both hosts: one Redis counter.
    intruder = Browser()
    token = intruder.csrf(f"{b}/login")
    attempts = []
    for i in range(LOGIN_LIMIT):  # the counsel's sign-in above was the first attempt
        url = (a, b)[i % 2]
        form = {"email": "nobody@lab.example", "password": "guess", "csrf_token": token}
        attempts.append(intruder.open(f"{url}/login", form=form)[0])
    assert attempts == [200] * (LOGIN_LIMIT - 1) + [429]

    # Every blob the records name is in the shared store, intact; the audit chain holds.
    verified = cluster.cli("evidence", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "evidence OK" in verified.stdout
    assert verify_chain().ok
    print(f"story done in {time.monotonic() - started:.1f} s")
