"""`make bench`: run every benchmark, print one table, exit non-zero when a target is missed.

python -m bench            full run (100,000 cases; targets enforced)
python -m bench --quick    harness smoke test at small scale, no timing assertions
python -m bench --only audit,ingest
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

# Packets first: their peak-memory figure is the process's maximum RSS, which the audit suite
# (a million events held in memory for its reference) would otherwise set.
SUITES = ["packets", "ingest", "audit", "pages", "campaign"]


def format_table(rows: list[dict]) -> str:
    header = ("benchmark", "measured", "reference", "ratio", "target", "result")
    lines = [header]
    for row in rows:
        unit = row.get("unit", "")
        lines.append(
            (
                row["name"],
                f"{row['measured']:.4g} {unit}".strip(),
                f"{row['reference']:.4g} {unit}".strip() if row.get("reference") else "-",
                f"{row['ratio']:.3f}" if row.get("ratio") is not None else "-",
                row.get("target") or "-",
                "pass" if row.get("passed") else ("info" if row.get("passed") is None else "FAIL"),
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)))
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small scale, no timing assertions")
    parser.add_argument("--only", default="", help="comma-separated suites: " + ",".join(SUITES))
    args = parser.parse_args()
    chosen = [s for s in SUITES if not args.only or s in args.only.split(",")]
    rows: list[dict] = []
    started = time.perf_counter()
    for suite in chosen:
        module = importlib.import_module(f"bench.{suite}")
        print(f"running {suite} ...", flush=True)
        suite_rows = module.run(quick=args.quick)
        rows.extend(suite_rows)
        print(format_table(suite_rows), flush=True)
    print()
    print(format_table(rows))
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = "quick" if args.quick else "full"
    (results / f"{name}.json").write_text(json.dumps(rows, indent=2, default=str))
    if args.quick:
        return 0
    missed = [row["name"] for row in rows if row.get("passed") is False]
    if missed:
        print("targets missed: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
