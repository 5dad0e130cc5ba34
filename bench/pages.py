"""Page latency at 10,000 and 100,000 cases, as ratios to the framework floor, plus a load run.

For each scale a fresh database is seeded (`bench.seed`), then a logged-in test client requests
every page in rounds (one request of each page per round, so machine noise spreads evenly):

- the floor: `/no-access`, a trivial logged-in page (session, user load, base template);
- case list (severity filter, sorted by update, page 200), the case page's Evidence tab with 500
  findings, the dashboard, a text search, the audit view.

Targets: median <= 5x and p95 <= 10x the floor's; each page's median at 100,000 cases <= 1.5x
its median at 10,000. Then `compliance serve` (gunicorn, 2 workers) takes a ~10 s `wrk` load
on the case list and on the floor: throughput ratio and zero errors.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

from bench.seed import PASSWORD, Scale, Seeded, seed

FULL_SCALES = (10_000, 100_000)
QUICK_SCALES = (2_000, 10_000)
ROUNDS = 60
QUICK_ROUNDS = 12
WARMUP = 3
LOAD_SECONDS = 10
MEDIAN_TARGET, P95_TARGET, GROWTH_TARGET, LOAD_TARGET = 5.0, 10.0, 1.5, 0.2


def _pages(seeded: Seeded) -> dict[str, str]:
    return {
        "floor (/no-access)": "/no-access",
        "case list (filtered, sorted, page 200)": "/cases/?severity=medium&sort=updated&page=200",
        "case page, evidence tab (500 findings)": f"/cases/{seeded.big_case_ref}?tab=evidence",
        "dashboard": "/",
        "search (text query)": f"/cases/?q={seeded.search_word}",
        "audit view": "/audit/",
    }


def _app(seeded: Seeded, instance: Path) -> Any:
    from compliance import create_app

    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": seeded.database_url,
            "INSTANCE_PATH": str(instance),
            "EVIDENCE_DIR": seeded.evidence_dir,
            "CHECKPOINT_DIR": str(instance / "checkpoints"),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)]


def measure(seeded: Seeded, instance: Path, rounds: int) -> dict[str, dict[str, float]]:
    """Median and p95 seconds per page, through the WSGI app with a logged-in client."""
    app = _app(seeded, instance)
    pages = _pages(seeded)
    client = app.test_client()
    response = client.post("/login", data={"email": seeded.login_email, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"bench login failed: {response.status_code}")
    samples: dict[str, list[float]] = {name: [] for name in pages}
    for round_number in range(WARMUP + rounds):
        for name, url in pages.items():
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            if round_number >= WARMUP:
                samples[name].append(elapsed)
    with app.app_context():
        from compliance.extensions import db

        db.engine.dispose()
    return {
        name: {"median": statistics.median(values), "p95": _percentile(values, 0.95)}
        for name, values in samples.items()
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_cookie(base: str) -> str:
    """Sign in over HTTP like a browser (CSRF token from the form) and return the cookie."""
    jar = CookieJar()
    opener = build_opener(HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login", timeout=10).read().decode()  # noqa: S310 - local
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    data = {"email": "bench.counsel@lab.example", "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    login = Request(f"{base}/login", data=urlencode(data).encode(), method="POST")  # noqa: S310
    opener.open(login, timeout=10).read()  # noqa: S310 - our own server on localhost
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _wrk(url: str, cookie: str, seconds: int) -> tuple[float, int]:
    """Requests per second and the number of errors (socket errors + non-2xx/3xx)."""
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "10s", "-H", f"Cookie: {cookie}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return rate, errors


def load_run(seeded: Seeded, instance: Path, seconds: int) -> dict[str, tuple[float, int]]:
    """`compliance serve` (gunicorn, 2 workers) under wrk: the case list and the floor."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COMPLIANCE_DATABASE_URL": seeded.database_url,
        "COMPLIANCE_INSTANCE_PATH": str(instance),
        "COMPLIANCE_EVIDENCE_DIR": seeded.evidence_dir,
        "COMPLIANCE_SECRET_KEY": "bench-" + "x" * 40,
        "COMPLIANCE_RATELIMIT_ENABLED": "false",
    }
    command = Path(sys.executable).parent / "compliance"
    server = subprocess.Popen(
        [str(command), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("compliance serve did not start") from None
                time.sleep(0.2)
        cookie = _session_cookie(base)
        pages = _pages(seeded)
        results = {}
        for name in ("floor (/no-access)", "case list (filtered, sorted, page 200)"):
            _wrk(base + pages[name], cookie, 1)  # warm both workers
            results[name] = _wrk(base + pages[name], cookie, seconds)
        return results
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _row(name: str, measured: float, reference: float, target: float, unit: str, timed: bool):
    ratio = measured / reference if reference else None
    return {
        "name": name,
        "measured": round(measured, 3),
        "reference": round(reference, 3),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "target": f"<= {target:g}",
        "unit": unit,
        "passed": (ratio is not None and ratio <= target) if timed else None,
    }


def run(
    quick: bool = False,
    *,
    database_url: str | None = None,
    scales: tuple[int, ...] | None = None,
    findings_per_case: float = 10.0,
    audit_events: int | None = None,
    load: bool = True,
    rounds: int | None = None,
) -> list[dict]:
    """Seed each scale, measure the pages, compare; the rows bench/__main__ prints.

    `database_url` (an empty PostgreSQL database) replaces the SQLite files: each scale then
    reseeds it from scratch. Quick mode checks the harness, not the figures (passed=None).
    """
    scales = scales or (QUICK_SCALES if quick else FULL_SCALES)
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    timed = not quick
    rows: list[dict] = []
    figures: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cases in scales:
            instance = Path(tmp) / f"scale-{cases}"
            url = database_url or f"sqlite:///{tmp}/pages-{cases}.db"
            if database_url:
                _reset_postgres(database_url)
            scale = Scale.for_cases(cases, findings_per_case)
            if audit_events is not None:
                scale.audit_events = audit_events
            seeded = seed(url, scale, instance, progress=not quick)
            rows.append(
                {
                    "name": f"seed {cases:,} cases, {seeded.findings:,} findings, "
                    f"{seeded.audit_events:,} audit events",
                    "measured": round(seeded.seconds, 1),
                    "reference": None,
                    "ratio": None,
                    "target": None,
                    "unit": "s",
                    "passed": None,
                }
            )
            figures[cases] = measure(seeded, instance, rounds)
            floor = figures[cases]["floor (/no-access)"]
            for name, stats in figures[cases].items():
                if name.startswith("floor"):
                    rows.append(
                        {
                            "name": f"{name} at {cases:,} cases",
                            "measured": round(stats["median"] * 1000, 3),
                            "reference": None,
                            "ratio": None,
                            "target": None,
                            "unit": "ms median",
                            "passed": None,
                        }
                    )
                    continue
                rows.append(
                    _row(
                        f"{name} at {cases:,}: median vs floor",
                        stats["median"] * 1000,
                        floor["median"] * 1000,
                        MEDIAN_TARGET,
                        "ms",
                        timed,
                    )
                )
                rows.append(
                    _row(
                        f"{name} at {cases:,}: p95 vs floor p95",
                        stats["p95"] * 1000,
                        floor["p95"] * 1000,
                        P95_TARGET,
                        "ms",
                        timed,
                    )
                )
            if cases == scales[-1] and load:
                rows.extend(_load_rows(seeded, instance, quick, timed))
            if database_url is None:
                Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        small, large = scales[0], scales[-1]
        if small != large:
            for name, stats in figures[large].items():
                if name.startswith("floor"):
                    continue
                rows.append(
                    _row(
                        f"{name}: median at {large:,} vs at {small:,} cases",
                        stats["median"] * 1000,
                        figures[small][name]["median"] * 1000,
                        GROWTH_TARGET,
                        "ms",
                        timed,
                    )
                )
    return rows


def _load_rows(seeded: Seeded, instance: Path, quick: bool, timed: bool) -> list[dict]:
    if shutil.which("wrk") is None:
        return [
            {
                "name": "HTTP load (wrk): NOT RUN, wrk is missing (apt-get install -y wrk)",
                "measured": 0,
                "reference": None,
                "ratio": None,
                "target": f">= {LOAD_TARGET:g}",
                "unit": "",
                "passed": None if quick else False,
            }
        ]
    results = load_run(seeded, instance, 2 if quick else LOAD_SECONDS)
    floor_rate, floor_errors = results["floor (/no-access)"]
    list_rate, list_errors = results["case list (filtered, sorted, page 200)"]
    ratio = list_rate / floor_rate if floor_rate else 0.0
    return [
        {
            "name": f"HTTP load, case list page 200 at {seeded.cases:,} (gunicorn 2 workers, wrk)",
            "measured": round(list_rate, 1),
            "reference": round(floor_rate, 1),
            "ratio": round(ratio, 3),
            "target": f">= {LOAD_TARGET:g}",
            "unit": "req/s (ref: /no-access)",
            "passed": ratio >= LOAD_TARGET if timed else None,
        },
        {
            "name": "HTTP load errors (socket errors + non-2xx/3xx, both runs)",
            "measured": list_errors + floor_errors,
            "reference": None,
            "ratio": None,
            "target": "== 0",
            "unit": "",
            # Errors are a correctness fault, so they fail quick runs too.
            "passed": list_errors + floor_errors == 0,
        },
    ]


def _reset_postgres(url: str) -> None:
    """Drop and recreate the public schema: each scale starts from an empty database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument("--cases", default="", help="comma-separated scales, e.g. 10000,100000")
    parser.add_argument("--no-load", action="store_true")
    args = parser.parse_args()
    chosen = tuple(int(c) for c in args.cases.split(",") if c) or None
    for result in run(
        args.quick, database_url=args.database_url, scales=chosen, load=not args.no_load
    ):
        print(json.dumps(result))
