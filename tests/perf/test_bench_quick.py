"""`make bench-quick` in CI: every benchmark suite runs end to end at a small scale.

The pages suite seeds 2,000 and 10,000 cases; ingest, audit and packets run small. Quick mode
asserts nothing about timing, so this fails only when the harness itself breaks: a suite that
raises, a page that errors, an HTTP load run with errors.
"""

from __future__ import annotations

import json
import subprocess
import sys

from compliance import PROJECT_ROOT


def test_make_bench_quick_runs_every_suite():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((PROJECT_ROOT / "bench" / "results" / "quick.json").read_text())
    names = [row["name"] for row in rows]
    for suite in ("packet build", "ingest via API", "audit verify", "one audit append"):
        assert any(name.startswith(suite) for name in names), suite
    for scale in ("2,000", "10,000"):
        assert any(name.startswith(f"seed {scale} cases") for name in names), scale
        for page in ("case list", "evidence tab", "dashboard", "search", "audit view"):
            assert any(page in n and f"at {scale}: median vs floor" in n for n in names), page
    # The campaign suite: a case grown to campaign size, its tabs against the floor.
    assert any(n.startswith("evidence tab, campaign case: median vs floor") for n in names)
    assert all(row["measured"] is None or row["measured"] >= 0 for row in rows)
    # Errors under load are a fault at any scale (timing rows are only information here).
    assert all(row["passed"] is not False for row in rows if row["name"].startswith("HTTP load"))
