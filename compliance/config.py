"""Configuration: defaults -> instance/config.py -> COMPLIANCE_* environment -> test overrides."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

ENV_PREFIX = "COMPLIANCE_"


class ConfigError(RuntimeError):
    """The configuration cannot run the application; the message says what to set."""


class Defaults:
    ENV = "development"
    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # default computed from the instance folder
    # Where evidence blobs, packets and checkpoints are kept: "filesystem" (EVIDENCE_DIR, one
    # host or a shared volume) or "postgresql" (the database itself: several hosts, no disk).
    EVIDENCE_STORE = "filesystem"
    EVIDENCE_DIR: str | None = None  # default computed from the instance folder
    CHECKPOINT_DIR: str | None = None  # where signed audit chain heads are exported
    AUDIT_KEY_PATH: str | None = None  # Ed25519 checkpoint key; default <instance>/audit_key.pem
    POLICIES_DIR: str | None = None  # the terms-of-service folder; default policies/ here
    BACKUP_DIR: str | None = None  # where backups are kept: the scheduled drill tests the newest
    RETENTION_DAYS = 7 * 365  # a closed or dismissed case may be deleted this long after closing
    BATES_PREFIX = "EVD"
    CASE_REF_PREFIX = "DIST"
    SIGNING_KEY_PATH: str | None = None  # PKCS#12 used to sign packets and checkpoints
    SIGNING_KEY_PASSWORD: str | None = None
    # Packets: fields of the organisation block (name, department, address, place,
    # contact_email, phone) over the built-in ones, and where signatures say they were made.
    PACKET_ORGANISATION: dict[str, str] = {}  # noqa: RUF012 - read-only default
    PACKET_SIGNING_LOCATION = "Legal department"
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024  # largest request body (findings with attachments)
    MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
    MAX_BATCH_ITEMS = 1000  # findings in one batch (API body, upload, `compliance ingest` file)
    # Rate-limit counters: memory:// is per process; several web processes or hosts share a
    # Redis (redis://host:6379/0). The prefix keeps installations sharing a Redis apart.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "compliance"
    # Redis away: count in each process's memory until it answers again (sign-in keeps
    # working, still throttled per process; the account lockout is in the database anyway).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
    LOGIN_RATE_LIMIT = "10 per minute"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Sessions are server-side records (auth.models.UserSession): these bound their life.
    SESSION_IDLE_MINUTES = 30  # a session unused this long ends (not "keep me signed in")
    SESSION_LIFETIME_HOURS = 12  # a session ends this long after sign-in regardless
    REMEMBER_DAYS = 14  # "keep me signed in": the cookie and its record last this long
    # Two-factor sign-in (TOTP): None = required in production only, True/False to force.
    TWO_FACTOR_REQUIRED: bool | None = None
    TWO_FACTOR_ROLES = ["counsel", "admin"]
    TWO_FACTOR_ISSUER = "Distillation cases"
    HSTS_MAX_AGE = 365 * 24 * 3600  # Strict-Transport-Security in production
    WTF_CSRF_TIME_LIMIT = 8 * 3600  # a working day: a form left open over lunch still posts
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Test pooled connections before use: after a database restart the app recovers by itself.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SMTP_HOST: str | None = None
    SMTP_PORT = 25
    SMTP_SENDER = "compliance@localhost"
    SMTP_STARTTLS = False
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    # Reviews: days between reviews per case state, legal-hold reviews, escalation to counsel.
    REVIEW_CADENCE_DAYS = {
        "reported": 1,
        "triage": 3,
        "investigating": 14,
        "legal_review": 7,
        "approved": 3,
        "action_taken": 14,
        "monitoring": 30,
    }
    HOLD_REVIEW_DAYS = 90
    POLICY_REVIEW_DAYS = 365
    REVIEW_DUE_NOTICE_HOURS = 24  # "due" (and its reminder) starts this long before the date
    REVIEW_ESCALATE_AFTER_DAYS = 2  # overdue this long -> escalated to counsel
    # Notices: the owner is reminded this many business days before a deadline (and on the
    # day; counsel when it passes); the follow-up target of a recipient outside the directory.
    NOTICE_REMIND_BUSINESS_DAYS = 2
    NOTICE_RESPONSE_DAYS = 10
    PUBLIC_URL = "http://127.0.0.1:5000"  # links in e-mails
    PACKET_POLL_SECONDS = 20  # how often the active scheduler looks for queued packets
    TRUST_PROXY = False
    # Industry intel sharing. The salt is the forum's shared secret for hashing customer
    # identifiers (HMAC-SHA256): this default is for the demo only; replace it with the value
    # the forum distributes (production refuses the default).
    INTEL_SHARED_SALT = "distillation-forum-DEMO-salt-replace-me"
    INTEL_ORGANISATION = "Meridian AI"  # the identity our bundles are created by
    INTEL_MAX_BUNDLE_BYTES = 5 * 1024 * 1024
    INTEL_MAX_BUNDLE_OBJECTS = 2000  # STIX objects in one bundle (12,000 took 17 s to import)
    INTEL_MAX_BUNDLE_DEPTH = 32  # JSON nesting of a bundle
    INTEL_UNMARKED_POLICY = "refuse"  # a bundle without TLP: "refuse" or "amber+strict"
    # Fernet key encrypting partners' TAXII credentials; default <instance>/intel_feed.key.
    INTEL_FEED_KEY_PATH: str | None = None


def _coerce(raw: str, default: Any) -> Any:
    """Environment values are strings; give them the type of the default when it has one."""
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, dict | list):
        return json.loads(raw)
    return raw


def load_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration mapping in the documented order of precedence."""
    config: dict[str, Any] = {k: v for k, v in vars(Defaults).items() if k.isupper()}

    instance_file = instance_path / "config.py"
    if instance_file.exists():
        namespace: dict[str, Any] = {}
        exec(compile(instance_file.read_text(), str(instance_file), "exec"), namespace)  # noqa: S102
        config.update({k: v for k, v in namespace.items() if k.isupper()})

    for key, raw in os.environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :]
            config[name] = _coerce(raw, config.get(name))

    if overrides:
        config.update(overrides)

    if config["ENV"] not in {"development", "production", "testing"}:
        raise ConfigError(
            f"COMPLIANCE_ENV must be 'development' or 'production', not {config['ENV']!r}"
        )
    if config.get("TESTING"):
        config["ENV"] = "testing"

    config["DATABASE_URL"] = config["DATABASE_URL"] or f"sqlite:///{instance_path}/compliance.db"
    _check_evidence_store(config)
    config["EVIDENCE_DIR"] = config["EVIDENCE_DIR"] or str(instance_path / "evidence")
    config["CHECKPOINT_DIR"] = config["CHECKPOINT_DIR"] or str(instance_path / "checkpoints")
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    config["SECRET_KEY"] = config["SECRET_KEY"] or _development_secret(config, instance_path)

    production = config["ENV"] == "production"
    config["SESSION_COOKIE_SECURE"] = production
    config["REMEMBER_COOKIE_SECURE"] = production
    if isinstance(config["TWO_FACTOR_REQUIRED"], str):  # from the environment: no default type
        config["TWO_FACTOR_REQUIRED"] = config["TWO_FACTOR_REQUIRED"].strip().lower() in {
            "1",
            "true",
            "yes",
            "on",
        }
    config["REMEMBER_COOKIE_DURATION"] = timedelta(days=config["REMEMBER_DAYS"])
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=config["SESSION_LIFETIME_HOURS"])
    return config


def _check_evidence_store(config: dict[str, Any]) -> None:
    store = config["EVIDENCE_STORE"]
    if store not in {"filesystem", "postgresql"}:
        raise ConfigError(
            f"COMPLIANCE_EVIDENCE_STORE must be 'filesystem' or 'postgresql', not {store!r}"
        )
    if store == "postgresql" and not str(config["DATABASE_URL"]).startswith("postgresql"):
        raise ConfigError(
            "COMPLIANCE_EVIDENCE_STORE=postgresql keeps evidence in the database: "
            "COMPLIANCE_DATABASE_URL must be a PostgreSQL URL"
        )


def _development_secret(config: dict[str, Any], instance_path: Path) -> str:
    """Outside production, keep a generated key in the instance folder so sessions survive."""
    if config["ENV"] == "production":
        raise ConfigError(
            "COMPLIANCE_SECRET_KEY is required in production: set it to a long random string "
            "(for example the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    if config["ENV"] == "testing":
        return "testing-secret-key"
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
