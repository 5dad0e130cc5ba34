"""Benchmark: `audit verify` throughput and the cost of one append as the log grows.

Ratios, not absolute times, so the figures compare across machines:
- verify throughput over N events / raw hashlib SHA-256 over the same canonical bytes
  (the floor any verifier must pay), measured in the same run (target >= 0.5);
- one append (through `record`) at N events / one append at 1,000 events (target <= 1.5).
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FULL_EVENTS = 1_000_000
QUICK_EVENTS = 20_000
SMALL_EVENTS = 1_000
APPEND_SAMPLES = 200
INSERT_BATCH = 10_000


def _seed(app: Any, total: int) -> None:
    """Append `total` valid events with bulk Core inserts (hashes from the canonical functions)."""
    from sqlalchemy import func, select

    from compliance.audit.chain import format_time, stored_row
    from compliance.audit.models import AuditEvent
    from compliance.audit.verify_export import GENESIS_HASH
    from compliance.extensions import db

    table = AuditEvent.__table__
    with app.app_context():
        head = db.session.execute(
            select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
        ).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)
        target = seq + total
        while seq < target:
            rows = []
            for _ in range(min(INSERT_BATCH, target - seq)):
                seq += 1
                when = start + timedelta(milliseconds=seq)
                case = seq % 5000
                event = {
                    "seq": seq,
                    "occurred_at": format_time(when),
                    "actor": f"user:analyst{seq % 40}@lab.example",
                    "action": ("case.updated", "note.added", "case.transition")[seq % 3],
                    "object_type": "case",
                    "object_id": str(case),
                    "case_id": case,
                    "case_ref": f"DIST-2026-{case:04d}",
                    "changes": {"severity": {"before": "medium", "after": "high"}},
                    "details": {"reason": "bench", "n": seq},
                    "request_id": f"bench-{seq:032x}"[:40],
                    "prev_hash": prev,
                }
                row = stored_row(event)
                prev = row["hash"]
                rows.append(row)
            db.session.execute(table.insert(), rows)
            db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(table)) == target


def _canonical_messages(app: Any) -> list[bytes]:
    """The exact bytes the verifier hashes, prepared before the clock starts."""
    from compliance.audit.chain import iter_events
    from compliance.audit.verify_export import canonical_bytes

    with app.app_context():
        return [e["prev_hash"].encode("ascii") + b"\n" + canonical_bytes(e) for e in iter_events()]


def _time_hashlib(messages: list[bytes]) -> float:
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for message in messages:
        sha256(message).hexdigest()
    return time.perf_counter() - started


def _time_verify(app: Any) -> tuple[float, int]:
    from compliance.audit.chain import verify_chain

    with app.app_context():
        started = time.perf_counter()
        report = verify_chain()
        elapsed = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"benchmark chain does not verify: {report}")
    return elapsed, report.count


def _time_append(app: Any) -> float:
    """Median time of one committed append through the real writer."""
    from compliance.actor import Actor
    from compliance.audit.chain import record
    from compliance.extensions import db

    actor = Actor.system("bench")
    samples = []
    with app.app_context():
        for number in range(APPEND_SAMPLES):
            started = time.perf_counter()
            record("bench.append", actor=actor, object_type="bench", object_id=number)
            db.session.commit()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _app(database_url: str, instance: Path) -> Any:
    from compliance import create_app
    from compliance.migrate import upgrade

    upgrade(database_url)
    return create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "INSTANCE_PATH": str(instance)}
    )


def run(quick: bool = False, database_url: str | None = None) -> list[dict]:
    """Seed a fresh database and measure; returns the rows bench/__main__ prints."""
    total = QUICK_EVENTS if quick else FULL_EVENTS
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        app = _app(url, Path(tmp) / "instance")
        _seed(app, SMALL_EVENTS)
        append_small = _time_append(app)
        _seed(app, total - SMALL_EVENTS - APPEND_SAMPLES)
        append_large = _time_append(app)
        messages = _canonical_messages(app)
        reference = min(_time_hashlib(messages) for _ in range(3))
        verify_seconds, count = _time_verify(app)
        with app.app_context():
            from compliance.extensions import db

            db.engine.dispose()
    verify_rate, hash_rate = count / verify_seconds, len(messages) / reference
    return [
        {
            "name": f"audit verify throughput over {count:,} events",
            "measured": round(verify_rate),
            "reference": round(hash_rate),
            "ratio": round(verify_rate / hash_rate, 3),
            "target": ">= 0.5",
            "unit": "events/s (reference: raw hashlib SHA-256 over the same canonical bytes)",
            "passed": verify_rate / hash_rate >= 0.5,
        },
        {
            "name": f"one audit append at {count:,} events vs at {SMALL_EVENTS:,}",
            "measured": round(append_large * 1000, 3),
            "reference": round(append_small * 1000, 3),
            "ratio": round(append_large / append_small, 3),
            "target": "<= 1.5",
            "unit": "ms per committed append (median)",
            "passed": append_large / append_small <= 1.5,
        },
    ]


if __name__ == "__main__":
    import json
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
