"""Verify one range of the audit chain, in this process or in a helper process.

SHA-256 over a million short payloads is CPU-bound and Python hashes on one core per process,
so `verify_chain` checks a long log in two halves side by side: its own process takes the
first, `python -m compliance.audit.verify_range` the second. The helper reads its job as JSON
from the environment (a database URL may hold a password: never on argv) and prints its result
as JSON. It imports only the standard library and the database driver: it starts in ~30 ms.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

JOB_VARIABLE = "COMPLIANCE_VERIFY_RANGE_JOB"
BATCH = 50_000  # rows per query: memory stays flat, and PostgreSQL sends each batch at once


def check_range(cursor: Any, dialect: str, first: int, last: int, prev_hash: str) -> dict:
    """Events first..last, in order: seqs continue and SHA-256(previous hash, payload) = hash.

    `prev_hash` is the stored hash of event first-1. Only seq, payload and hash are read: the
    other columns are generated from the payload by the database (checked once, elsewhere).
    """
    marker = "%s" if dialect == "postgresql" else "?"
    sql = (
        f"SELECT seq, payload, hash FROM audit_events WHERE seq >= {marker} AND seq <= {marker} "
        f"ORDER BY seq LIMIT {BATCH}"
    )
    sha256 = hashlib.sha256
    expected = first
    while expected <= last:
        cursor.execute(sql, (expected, last))
        batch_start = expected
        for seq, payload, digest in cursor:
            if seq != expected:
                problem = f"sequence gap or reordering: expected seq={expected}"
                return _bad(seq, problem, expected - first)
            if sha256(f"{prev_hash}\n{payload}".encode()).hexdigest() != digest:
                return _bad(seq, _mismatch(payload, prev_hash), expected - first)
            prev_hash = digest
            expected += 1
        if expected == batch_start:  # nothing came back although the range is not done
            return _bad(expected, f"events missing from seq={expected}", expected - first)
    return {"ok": True, "count": last - first + 1, "head_hash": prev_hash}


def _mismatch(payload: str, prev_hash: str) -> str:
    """Why an event's hash is wrong (only ever computed for the one bad event)."""
    try:
        linked = json.loads(payload).get("prev_hash") == prev_hash
    except (ValueError, AttributeError):
        linked = True  # unreadable content: say so below
    if not linked:
        return "prev_hash does not match the previous event's hash"
    return "hash does not match the event's content"


def _bad(seq: int, problem: str, count: int) -> dict:
    return {"ok": False, "bad_seq": seq, "problem": problem, "count": count}


def _connect(job: dict) -> Any:
    if job["dialect"] == "postgresql":
        import psycopg

        return psycopg.connect(job["url"])
    import sqlite3

    return sqlite3.connect(Path(job["path"]).resolve().as_uri() + "?mode=ro", uri=True)


def main() -> None:
    job = json.loads(os.environ[JOB_VARIABLE])
    connection = _connect(job)
    try:
        result = check_range(
            connection.cursor(), job["dialect"], job["first"], job["last"], job["prev_hash"]
        )
    finally:
        connection.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
