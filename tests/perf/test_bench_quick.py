"""The page benchmark's harness runs end to end at a tiny scale and prints a table."""

from __future__ import annotations


def test_pages_suite_produces_a_table_at_tiny_scale():
    """Seeds 2,000 cases (20,000 findings, 20,000 audit events), measures every page, no wrk."""
    from bench.__main__ import format_table
    from bench.pages import run

    rows = run(
        quick=True, scales=(2_000,), findings_per_case=10, audit_events=20_000, load=False, rounds=5
    )
    names = [row["name"] for row in rows]
    assert any(name.startswith("seed 2,000 cases") for name in names)
    for page in ("case list", "evidence tab", "dashboard", "search", "audit view"):
        assert any(page in name and "median vs floor" in name for name in names), page
    # Quick mode asserts nothing about timing: every timing row is informational.
    assert all(row["passed"] is None for row in rows)
    assert all(row["measured"] > 0 for row in rows)
    table = format_table(rows)
    assert "FAIL" not in table and "dashboard at 2,000: median vs floor" in table
