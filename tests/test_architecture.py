"""The dependency direction of DESIGN.md is a checked contract, part of every test run."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from compliance import PROJECT_ROOT

# What only a request handler may touch: the request and what answers it.
REQUEST_NAMES = {"request", "session", "g", "flash", "redirect", "url_for", "abort"}
# The entry points: request handlers, commands, the demo and the app's wiring.
ENTRY_POINTS = {"views.py", "taxii_views.py", "cli.py", "demo.py", "access.py", "findings.py"}


def _lint_imports() -> list[str]:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "importlinter.cli"]


def test_the_import_contracts_hold():
    result = subprocess.run(
        [*_lint_imports(), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _below_views() -> list[Path]:
    root = PROJECT_ROOT / "compliance"
    return sorted(
        path
        for path in root.glob("*/**/*.py")
        if path.name in {"operations.py", "models.py"} or "operations" in path.parent.name
    )


def test_operations_and_models_use_no_request_objects():
    """Import-linter sees modules, not names: `from flask import request` is checked here."""
    offenders = []
    for path in _below_views():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                names = {alias.name for alias in node.names} & REQUEST_NAMES
                if names:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}: {sorted(names)}")
    assert _below_views(), "the operations and models modules were not found"
    assert not offenders, offenders


def _contracts_on_a_copy(tmp_path: Path, module: str, line: str) -> str:
    """Run the contracts on a copy of compliance/ where `module` (a path) gains `line`."""
    shutil.copytree(
        PROJECT_ROOT / "compliance",
        tmp_path / "compliance",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "compliance" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = subprocess.run(
        [*_lint_imports(), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0, result.stdout[-3000:]
    return result.stdout.replace("\n", " ")


def test_a_model_importing_an_operation_breaks_the_contract(tmp_path):
    """The check can fail: the same contracts, on a copy where a model imports an operation."""
    out = _contracts_on_a_copy(
        tmp_path, "cases/models.py", "from compliance.cases import operations"
    )
    assert "compliance.cases.models is not allowed to import" in out


def test_a_lower_domain_asking_a_higher_one_breaks_the_contract(tmp_path):
    """Cases sit below packets: readiness asking packets directly (even inside a function,
    as it once did) closes a cycle; it asks through `fact_providers` instead."""
    out = _contracts_on_a_copy(
        tmp_path,
        "cases/readiness.py",
        "def _sent(case):\n    from compliance.packets.operations import sent_packet_types",
    )
    assert "No cycles are allowed in compliance" in out and ".cases -> .packets" in out


# Size: a module holds one job and a function reads in one screen (README "Layout"). Anything
# larger is listed here with the reason it stays whole.
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
LARGER: dict[str, str] = {}


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, functions = {}, {}
    for path in sorted((PROJECT_ROOT / "compliance").rglob("*.py")):
        name = path.relative_to(PROJECT_ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        modules[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[f"{name}::{node.name}"] = node.end_lineno - node.lineno + 1
    return modules, functions


def test_modules_and_functions_stay_small():
    modules, functions = _sizes()
    assert len(modules) > 100 and len(functions) > 1000, "compliance/ was not found"
    too_long = {name: n for name, n in modules.items() if n > MAX_MODULE_LINES}
    too_long |= {name: n for name, n in functions.items() if n > MAX_FUNCTION_LINES}
    unexplained = {name: n for name, n in too_long.items() if name not in LARGER}
    assert not unexplained, (
        f"over {MAX_MODULE_LINES} lines (module) or {MAX_FUNCTION_LINES} (function): {unexplained}"
    )
    stale = sorted(set(LARGER) - set(too_long))
    assert not stale, f"listed in LARGER but no longer over the limit: {stale}"
