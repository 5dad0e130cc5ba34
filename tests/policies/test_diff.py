"""Differences between versions: word-level inline diffs and the per-clause comparison."""

from __future__ import annotations

from compliance.policies.operations import find_clause, inline_diff, version_diff


def test_inline_diff_marks_removed_and_added_words():
    segments = inline_diff(
        "You will not develop models that compete with us.",
        "You will not distil or train models that compete with us.",
    )
    assert [(s.op, s.text) for s in segments] == [
        ("equal", "You will not "),
        ("delete", "develop"),
        ("insert", "distil or train"),
        ("equal", " models that compete with us."),
    ]


def test_inline_diff_of_identical_text_is_one_equal_run():
    assert [s.op for s in inline_diff("Same words.", "Same words.")] == ["equal"]


def test_version_diff_lists_changed_added_and_unchanged_clauses(app, library):
    old = find_clause("api-terms@2025-06#4.2").version
    new = find_clause("api-terms@2026-03#4.2").version

    changes = {c.number: c for c in version_diff(old, new)}

    assert {n: c.status for n, c in changes.items()} == {
        "4": "unchanged",
        "4.2": "changed",
        "4.3": "added",
    }
    heading = changes["4.2"].heading_segments
    assert [(s.op, s.text) for s in heading] == [
        ("delete", "Competing models"),
        ("insert", "Automated extraction"),
    ]
    text = changes["4.2"].text_segments
    removed = "".join(s.text for s in text if s.op == "delete")
    inserted = "".join(s.text for s in text if s.op == "insert")
    assert "develop models that compete with us" in removed
    assert "automated or programmatic means to extract" in inserted
    assert "".join(s.text for s in text if s.op != "insert") == changes["4.2"].old.text
    assert "".join(s.text for s in text if s.op != "delete") == changes["4.2"].new.text
    assert changes["4.3"].old is None and changes["4.3"].new.heading == "Distillation"
    reverse = {c.number: c.status for c in version_diff(new, old)}
    assert reverse["4.3"] == "removed"
