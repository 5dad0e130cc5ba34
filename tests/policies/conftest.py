"""Helpers for the clause library tests: policy folders written to a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compliance.extensions import db

EXTRACTION_2025 = "You will not use the Services or Outputs to develop models that compete with us."
EXTRACTION_2026 = (
    "You will not use automated or programmatic means to extract Outputs in bulk, "
    "including templated prompts that sweep a subject area."
)


def policy_text(
    document: str = "api-terms",
    version: str = "2026-03",
    effective_from: str = "2026-03-01",
    clauses: dict[str, tuple[str, str]] | None = None,
    **front_matter: str | None,
) -> str:
    """A policy file; front matter fields passed as None are left out."""
    fields: dict[str, str | None] = {
        "document": document,
        "title": "Meridian AI API Terms of Service",
        "short_title": "API Terms",
        "version": version,
        "effective_from": effective_from,
        "owner": "casey.lindqvist@lab.example",
        **front_matter,
    }
    head = "\n".join(f"{k}: {v}" for k, v in fields.items() if v is not None)
    clauses = clauses or {"4": ("Restrictions", ""), "4.2": ("Competing models", EXTRACTION_2025)}
    body = "\n\n".join(f"## {n} {heading}\n\n{text}" for n, (heading, text) in clauses.items())
    return f"---\n{head}\n---\n\n# Meridian AI API Terms of Service\n\n{body}\n"


class PolicyFolder:
    """A policies/ folder in a temp directory that a test fills file by file."""

    def __init__(self, root: Path) -> None:
        self.path = root / "policies"
        self.path.mkdir()

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def add(self, name: str, **kwargs: Any) -> Path:
        return self.write(name, policy_text(**kwargs))


@pytest.fixture
def policy_folder(tmp_path: Path) -> PolicyFolder:
    return PolicyFolder(tmp_path)


def two_versions(folder: PolicyFolder) -> None:
    """API Terms: a loose 2025-06 version and an explicit 2026-03 version."""
    folder.add("api-terms/2025-06.md", version="2025-06", effective_from="2025-06-01")
    folder.add(
        "api-terms/2026-03.md",
        version="2026-03",
        effective_from="2026-03-01",
        clauses={
            "4": ("Restrictions", ""),
            "4.2": ("Automated extraction", EXTRACTION_2026),
            "4.3": ("Distillation", "You will not use Outputs to train any model."),
        },
    )


@pytest.fixture
def library(app: Any, operator: Any, policy_folder: PolicyFolder) -> PolicyFolder:
    """The two API Terms versions, synced and committed."""
    from compliance.policies.operations import sync_policies

    two_versions(policy_folder)
    sync_policies(operator, policy_folder.path)
    db.session.commit()
    return policy_folder


@pytest.fixture
def investigating_case(make_case: Callable[..., Any], make_user: Callable[..., Any]) -> Callable:
    """Factory: a case in `investigating` with an owner and a summary, and the given window."""
    from compliance.actor import Actor
    from compliance.cases.operations import transition_case

    def factory(**fields: Any) -> Any:
        analyst = make_user("analyst")
        summary = "212 accounts swept coding prompts."
        case = make_case(owner_id=analyst.id, summary=summary, **fields)
        actor = Actor.for_user(analyst)
        transition_case(case, "triage", actor)
        transition_case(case, "investigating", actor)
        db.session.commit()
        return case

    return factory
