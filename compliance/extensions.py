"""Extensions created unbound here and bound to the app in create_app()."""

from flask import has_request_context
from flask.globals import app_ctx, request_ctx
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from compliance.db import Base


def _session_scope() -> int:
    """One session per request (or per app context outside requests).

    Flask reuses an already-pushed app context for a request, so scoping by app context alone
    would let a CLI command or a test share its session (and identity map) with requests.
    """
    if has_request_context():
        return id(request_ctx._get_current_object())
    return id(app_ctx._get_current_object())


db = SQLAlchemy(model_class=Base, session_options={"scopefunc": _session_scope})
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
