"""What the re-upload watch reads from a finding: identifiers in its metrics and files."""

from __future__ import annotations

from compliance.notices.watch import identifiers_in


def test_a_findings_metrics_name_urls_repositories_hashes_and_models():
    sha = "AB" * 32
    metrics = {
        "probes": 40,
        "model": "Nimbus-AI/Nimbus-7B-Instruct",
        "mirror": {"repo": "hub.example/nimbus-ai/copy", "links": ["https://Hub.example/x/y/"]},
        "weights": [{"sha256": sha}],
        "note": "model trained on our outputs",  # a sentence under a model-ish key: no name
        "models_compared": ["a/b"],
    }
    assert identifiers_in(metrics, ["cd" * 32]) == [
        ("model_name", "nimbus-ai/nimbus-7b-instruct"),
        ("repository", "hub.example/nimbus-ai/copy"),
        ("url", "https://hub.example/x/y"),
        ("repository", "https://hub.example/x/y"),
        ("file_sha256", sha.lower()),
        ("model_name", "a/b"),
        ("file_sha256", "cd" * 32),
    ]
    assert identifiers_in(None) == []
