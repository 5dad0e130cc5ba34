"""Tampering helpers: switch the append-only triggers off the way an attacker with DBA rights
would, so the tests can prove the chain and the checkpoints still catch the change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from compliance.extensions import db

SQLITE_TRIGGERS = {
    verb: (
        f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
        f"BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {verb} refused'); END"
    )
    for verb in ("UPDATE", "DELETE")
}


@contextmanager
def triggers_disabled() -> Iterator[None]:
    """Run the body with audit_events writable, then restore the triggers; commits."""
    db.session.commit()
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        for verb in SQLITE_TRIGGERS:
            db.session.execute(text(f"DROP TRIGGER audit_events_no_{verb.lower()}"))
    try:
        yield
    finally:
        db.session.commit()
        if postgres:
            db.session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            for sql in SQLITE_TRIGGERS.values():
                db.session.execute(text(sql))
        db.session.commit()


def tamper(sql: str, **params: object) -> None:
    with triggers_disabled():
        db.session.execute(text(sql), params)
