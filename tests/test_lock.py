"""The environment is the lock: every install (make demo, make test, CI) gets exactly the set
pinned in requirements.lock, and the lock satisfies every range in pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
# Installed by `python -m venv` itself, or the project: not resolved by the lock.
NOT_LOCKED = {"pip", "compliance"}


def locked_pins(environment: dict[str, str] | None = None) -> dict[str, str]:
    """{name: version} of the lock entries whose markers hold here (or in `environment`)."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate(environment):
            continue
        pins[canonicalize_name(name)] = version
    return pins


def test_every_locked_entry_has_hashes():
    text = (ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert entries, "the lock is empty"
    for entry in entries:
        if entry.strip():
            assert "--hash=sha256:" in entry, f"no hash for {entry.splitlines()[0]}"


def test_installed_environment_is_exactly_the_lock():
    pins = locked_pins()
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) not in NOT_LOCKED
    }
    wrong = {n: (v, pins.get(n)) for n, v in installed.items() if pins.get(n) != v}
    missing = sorted(set(pins) - set(installed))
    assert not wrong, f"installed vs locked versions differ (run `make test` to reinstall): {wrong}"
    assert not missing, f"locked but not installed: {missing}"


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_lock_satisfies_pyproject_on_every_supported_platform(python, machine):
    """Edit pyproject.toml without `make lock` and this fails (the lock is not re-resolved)."""
    environment = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_machine": machine,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    pins = locked_pins(environment)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}: "
            "run `make lock`"
        )


def test_packet_verify_tooling_imports_pyhanko_without_warnings():
    """cryptography's DSA deprecation is silenced at pyHanko's import and nowhere else."""
    code = (
        "import warnings; warnings.simplefilter('error');"
        "from compliance.packets.signing import _import_pyhanko; _import_pyhanko();"
        "from pyhanko.sign import signers, validation"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
