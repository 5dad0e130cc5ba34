"""The tabs of a campaign-sized case (1,000 findings, 10,000 subjects) as ratios to the floor.

A fresh SQLite database; one case grown with `tests.scale.grow_case` (the real ingest
operation, in batches of 100) and one ordinary case with 10 findings. A logged-in test client
then requests, in rounds (one request of each page per round, so noise spreads evenly):

- the floor: `/no-access`, a trivial logged-in page (as in bench/pages.py);
- the Evidence tab of the ordinary case, and of the campaign case (page 1, then filtered by
  subject type and on a later page of subjects); its Intel tab; its Audit tab.

Reported, not yet enforced (see bench/README.md): the campaign Evidence tab's median against
the floor's (bench/pages.py's page target is 5x) and against the ordinary case's Evidence tab
(the goal: 1.5x). The Intel tab (its share form offers every subject as a choice) and the
Audit tab are reported too.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS, QUICK_ROUNDS, WARMUP = 40, 5, 3
PASSWORD = "bench campaign password"


def _setup(tmp: Path, findings: int, subjects: int) -> tuple[Any, dict[str, str], float]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.scale, when run as `python -m bench`
    from compliance import create_app
    from compliance.migrate import upgrade

    url = f"sqlite:///{tmp}/campaign.db"
    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(tmp),
            "EVIDENCE_DIR": str(tmp / "evidence"),
            "CHECKPOINT_DIR": str(tmp / "checkpoints"),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        from compliance.actor import Actor
        from compliance.auth.operations import create_user
        from compliance.cases import operations
        from compliance.extensions import db
        from tests.scale import grow_case

        operator = Actor.cli_operator()
        create_user(operator, "bench.counsel@lab.example", "counsel", PASSWORD, "Bench Counsel")
        campaign = operations.create_case(operator, title="Campaign-sized case")
        ordinary = operations.create_case(operator, title="Ordinary case")
        db.session.commit()
        campaign_ref, ordinary_ref = campaign.ref, ordinary.ref
        started = time.perf_counter()
        grow_case(campaign_ref, findings=findings, subjects=subjects)
        grown = time.perf_counter() - started
        grow_case(ordinary_ref, findings=10, subjects=20)
    pages = {
        "floor (/no-access)": "/no-access",
        "evidence tab, ordinary case (10 findings)": f"/cases/{ordinary_ref}?tab=evidence",
        "evidence tab, campaign case": f"/cases/{campaign_ref}?tab=evidence",
        "evidence tab, campaign case, api keys, subjects page 3": (
            f"/cases/{campaign_ref}?tab=evidence&subject_type=api_key&subject_page=3"
        ),
        "intel tab, campaign case": f"/cases/{campaign_ref}?tab=intel",
        "audit tab, campaign case": f"/cases/{campaign_ref}?tab=audit",
    }
    return app, pages, grown


def _measure(app: Any, pages: dict[str, str], rounds: int) -> dict[str, float]:
    client = app.test_client()
    response = client.post(
        "/login", data={"email": "bench.counsel@lab.example", "password": PASSWORD}
    )
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
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def _row(name: str, measured: float, reference: float | None, target: float | None, timed: bool):
    ratio = measured / reference if reference else None
    return {
        "name": name,
        "measured": round(measured, 3),
        "reference": round(reference, 3) if reference else None,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "target": f"<= {target:g}" if target else None,
        "unit": "ms",
        "passed": (ratio is not None and ratio <= target) if timed and target else None,
    }


def run(quick: bool = False) -> list[dict]:
    findings, subjects = (100, 1_000) if quick else (1_000, 10_000)
    timed = not quick
    with tempfile.TemporaryDirectory() as tmp:
        app, pages, grown = _setup(Path(tmp), findings, subjects)
        medians = _measure(app, pages, QUICK_ROUNDS if quick else ROUNDS)
        with app.app_context():
            from compliance.extensions import db

            db.engine.dispose()
    floor = medians["floor (/no-access)"]
    ordinary = medians["evidence tab, ordinary case (10 findings)"]
    rows = [
        {
            "name": f"grow a case to {findings:,} findings, {subjects:,} subjects (ingest)",
            "measured": round(grown, 1),
            "reference": None,
            "ratio": None,
            "target": None,
            "unit": "s",
            "passed": None,
        },
        _row("floor (/no-access) median", floor, None, None, timed),
    ]
    for name, median in medians.items():
        if name.startswith("floor"):
            continue
        rows.append(_row(f"{name}: median vs floor", median, floor, None, timed))
    rows.append(
        _row(
            "evidence tab: campaign case vs ordinary case (median)",
            medians["evidence tab, campaign case"],
            ordinary,
            None,
            timed,
        )
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import format_table

    print(format_table(run(quick="--quick" in sys.argv)))
