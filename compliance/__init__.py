"""Case management for legal teams acting against unauthorized model distillation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported in create_app: helper processes import this package cheaply
    from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The application factory: configuration, extensions, blueprints, error handlers."""
    from flask import Flask

    from compliance.config import load_config
    from compliance.db import configure_engine
    from compliance.extensions import csrf, db, limiter, login_manager

    instance_path = Path(
        (config or {}).get("INSTANCE_PATH")
        or os.environ.get("COMPLIANCE_INSTANCE_PATH")
        or PROJECT_ROOT / "instance"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(load_config(instance_path, config))
    if app.config["EVIDENCE_STORE"] == "filesystem":
        Path(app.config["EVIDENCE_DIR"]).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    if app.config["TRUST_PROXY"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    from compliance import models  # noqa: F401 - every table registered on the metadata
    from compliance.hooks import register_hooks
    from compliance.web import register

    register_hooks()  # cross-domain reactions, the same for the web, the CLI and the scheduler
    register(app)
    return app
