"""Configuration precedence and the production secret-key rule."""

from __future__ import annotations

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
