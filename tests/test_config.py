"""Configuration precedence and the production secret-key rule."""

from __future__ import annotations

import re

import pytest

from compliance.config import ConfigError, load_config


def test_precedence_defaults_instance_env_overrides(tmp_path, monkeypatch):
    (tmp_path / "config.py").write_text("BATES_PREFIX = 'INST'\nCASE_REF_PREFIX = 'INST'\n")
    monkeypatch.setenv("COMPLIANCE_CASE_REF_PREFIX", "ENV")
    config = load_config(tmp_path, {"BATES_PREFIX": "TEST"})
    assert config["BATES_PREFIX"] == "TEST"
    assert config["CASE_REF_PREFIX"] == "ENV"
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path}/compliance.db"
    assert config["EVIDENCE_DIR"] == str(tmp_path / "evidence")


def test_environment_values_take_the_type_of_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_MAX_ATTACHMENT_BYTES", "1024")
    monkeypatch.setenv("COMPLIANCE_TRUST_PROXY", "yes")
    config = load_config(tmp_path)
    assert config["MAX_ATTACHMENT_BYTES"] == 1024 and config["TRUST_PROXY"] is True


def test_production_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLIANCE_ENV", "production")
    monkeypatch.delenv("COMPLIANCE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="COMPLIANCE_SECRET_KEY is required"):
        load_config(tmp_path)
    monkeypatch.setenv("COMPLIANCE_SECRET_KEY", "x" * 64)
    config = load_config(tmp_path)
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]


def test_development_generates_and_keeps_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPLIANCE_SECRET_KEY", raising=False)
    monkeypatch.delenv("COMPLIANCE_ENV", raising=False)
    first = load_config(tmp_path)["SECRET_KEY"]
    assert len(first) == 64 and load_config(tmp_path)["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- the README's table
# Settings the code reads that are not an operator's to set, and why each is left out.
NOT_FOR_OPERATORS = {
    "SQLALCHEMY_DATABASE_URI": "derived from DATABASE_URL",
    "PERMANENT_SESSION_LIFETIME": "derived from SESSION_LIFETIME_HOURS",
    "REMEMBER_COOKIE_DURATION": "derived from REMEMBER_DAYS",
    "SESSION_COOKIE_SECURE": "follows ENV",
    "REMEMBER_COOKIE_SECURE": "follows ENV",
    "TESTING": "test runs only",
    "WTF_CSRF_ENABLED": "test runs only (CSRF is always on in use)",
    "VERIFY_RANGE_JOB": "hand-over between `audit verify` and its helper process",
    # Framework settings fixed for safety; overriding them only weakens the app.
    "SESSION_COOKIE_HTTPONLY": "fixed",
    "SESSION_COOKIE_SAMESITE": "fixed",
    "REMEMBER_COOKIE_HTTPONLY": "fixed",
    "REMEMBER_COOKIE_SAMESITE": "fixed",
    "SQLALCHEMY_TRACK_MODIFICATIONS": "fixed",
    "SQLALCHEMY_ENGINE_OPTIONS": "fixed",
    # Rate limits keep counting in memory while Redis is away, with short Redis timeouts.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": "fixed",
    "RATELIMIT_STORAGE_OPTIONS": "fixed",
}
_READS = (
    re.compile(r"""config(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']"""),  # config["X"], .get("X")
    re.compile(r"""["']COMPLIANCE_([A-Z][A-Z0-9_]+)["']"""),  # os.environ["COMPLIANCE_X"]
)


def settings_the_code_reads() -> set[str]:
    """Every setting compliance/ reads: the defaults, config lookups and direct env reads."""
    from compliance import PROJECT_ROOT
    from compliance.config import Defaults

    names = {name for name in vars(Defaults) if name.isupper()}
    for path in (PROJECT_ROOT / "compliance").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in _READS:
            names.update(pattern.findall(text))
    return names


def readme_settings() -> dict[str, str]:
    """The README configuration table: variable (without the prefix) -> its default cell."""
    from compliance import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `COMPLIANCE_([A-Z0-9_]+)` \| (.*?) \|", table, re.MULTILINE)
    return dict(rows)


def test_every_setting_the_code_reads_is_in_the_readme_table():
    documented = readme_settings()
    read = settings_the_code_reads()
    assert {"RETENTION_DAYS", "AUDIT_KEY_PATH", "INSTANCE_PATH", "POLICIES_DIR"} <= read
    missing = sorted(read - set(documented) - set(NOT_FOR_OPERATORS))
    assert missing == [], f"COMPLIANCE_* settings read by the code but not in README: {missing}"
    stale = sorted(set(documented) - read)
    assert stale == [], f"README documents settings the code never reads: {stale}"


def test_the_readme_defaults_are_the_code_defaults():
    from compliance.config import Defaults

    documented = readme_settings()
    for name, cell in documented.items():
        value = getattr(Defaults, name, None)
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            continue
        assert f"`{value}`" in cell or (name == "INTEL_SHARED_SALT"), (name, value, cell)


def test_the_instance_folder_is_the_checkouts_wherever_the_command_runs(monkeypatch, tmp_path):
    from compliance import PROJECT_ROOT, create_app

    monkeypatch.delenv("COMPLIANCE_INSTANCE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "EVIDENCE_DIR": str(tmp_path)})
    assert app.instance_path == str(PROJECT_ROOT / "instance")
    assert "`instance/` of the checkout" in readme_settings()["INSTANCE_PATH"]
