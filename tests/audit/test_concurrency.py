"""Several processes appending at once on PostgreSQL keep one unbroken chain."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select

from compliance.audit.chain import verify_chain
from compliance.audit.models import AuditEvent
from compliance.extensions import db

PROCESSES, APPENDS = 4, 50


def _append_many(database_url: str, instance: str, worker: int) -> None:
    from compliance import create_app
    from compliance.actor import Actor
    from compliance.audit.chain import record

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "INSTANCE_PATH": instance})
    with app.app_context():
        actor = Actor.system(f"worker-{worker}")
        for number in range(APPENDS):
            record("test.concurrent", actor=actor, object_type="test", object_id=number)
            db.session.commit()
        db.engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_appends_keep_one_chain(app, database_url, tmp_path):
    db.session.commit()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_many, args=(database_url, str(tmp_path / "i"), n))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    db.session.expire_all()
    count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert count >= PROCESSES * APPENDS
    report = verify_chain()
    assert report.ok, report
    assert report.count == count
