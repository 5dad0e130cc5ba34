"""Verify an exported audit trail without trusting the system that produced it.

Usage: python -m compliance.audit.verify_export FILE [--checkpoint CHECKPOINT.json]

This module imports only the Python standard library, so it can be copied out of the
project and run alone (`python verify_export.py FILE`). It is also where the chain's
canonical form is defined: the application hashes events with these same functions.

Each event's hash is SHA-256 over the previous event's hash (64 hex characters, ASCII),
a newline, and the event's canonical JSON: the fields in EVENT_FIELDS, keys sorted,
no insignificant whitespace, UTF-8 (non-ASCII characters unescaped), times as ISO 8601
UTC with microseconds and "Z". The first event of the log has prev_hash GENESIS_HASH.

An export (JSON or CSV) carries every hashed field of every event, its hash, and a header:
`first_prev_hash` (the hash the first exported event chains to) and `filtered` (true for a
subset such as one case). An unfiltered export must form one unbroken chain starting at
`first_prev_hash`; a filtered export must have every event's own hash right, events in
increasing seq order, and consecutive seqs linked. Exit status 0 means verified; 1 names
the first bad event as seq=N; 2 is a usage or file error.

Any export the product writes verifies: fields of any size (a batch's `finding.ingested` event
runs to megabytes; the CSV reader's field limit is lifted), and the PDF report, which embeds
the JSON export of the same events as an associated file (`audit-export.json`): the
verifier extracts it (zlib, standard library) and checks that. The report's printed pages are
a rendering of those events; the embedded file is what is verified.

With --checkpoint, the export must contain the checkpointed chain head (the event at the
checkpoint's seq with the checkpoint's hash), so events cut from the tail or a rewritten
history before the checkpoint are detected. The checkpoint's Ed25519 signature is not
checked here (the standard library has no Ed25519); the message printed tells how to
check it with OpenSSL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

GENESIS_HASH = "0" * 64
EVENT_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "case_id",
    "case_ref",
    "changes",
    "details",
    "request_id",
    "prev_hash",
)
JSON_FIELDS = ("changes", "details")
CSV_COLUMNS = (*EVENT_FIELDS, "hash")
CHECKPOINT_SIGNED_FIELDS = ("created_at", "head_hash", "key_id", "seq")

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_bytes(event: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed for one event.

    Equal to json.dumps({f: event.get(f) for f in EVENT_FIELDS}, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8"); one
    encoder is reused because verification runs this a million times.
    """
    get = event.get
    return _ENCODER.encode({name: get(name) for name in EVENT_FIELDS}).encode("utf-8")


def event_hash(event: dict[str, Any]) -> str:
    """The hash of one event, chained to its predecessor through prev_hash."""
    return hashlib.sha256(
        event["prev_hash"].encode("ascii") + b"\n" + canonical_bytes(event)
    ).hexdigest()


def check_chain(events: Iterable[dict[str, Any]], first_prev_hash: str | None = None) -> dict:
    """Walk events in order; report the first one that breaks the chain, if any."""
    expected_prev = first_prev_hash
    expected_seq = None
    count = 0
    last: dict[str, Any] | None = None
    sha256 = hashlib.sha256
    for event in events:
        seq = event["seq"]
        if expected_seq is not None and seq != expected_seq:
            return _bad(seq, f"sequence gap or reordering: expected seq={expected_seq}", count)
        prev = event["prev_hash"]
        if expected_prev is not None and prev != expected_prev:
            return _bad(seq, "prev_hash does not match the previous event's hash", count)
        digest = sha256(prev.encode("ascii") + b"\n" + canonical_bytes(event)).hexdigest()
        if digest != event["hash"]:
            return _bad(seq, "hash does not match the event's content", count)
        expected_prev = digest
        expected_seq = seq + 1
        count += 1
        last = event
    return {
        "ok": True,
        "count": count,
        "head_seq": last["seq"] if last else None,
        "head_hash": last["hash"] if last else first_prev_hash,
    }


def check_subset(events: Iterable[dict[str, Any]]) -> dict:
    """A filtered export: own hashes right, seqs increasing, neighbours in the chain linked."""
    count = 0
    previous: dict[str, Any] | None = None
    for event in events:
        seq = event["seq"]
        if previous is not None and seq <= previous["seq"]:
            return _bad(seq, "events out of order or repeated", count)
        linked = previous is not None and seq == previous["seq"] + 1
        if linked and event["prev_hash"] != previous["hash"]:
            return _bad(seq, "prev_hash does not match the previous event's hash", count)
        if event_hash(event) != event["hash"]:
            return _bad(seq, "hash does not match the event's content", count)
        previous = event
        count += 1
    return {
        "ok": True,
        "count": count,
        "head_seq": previous["seq"] if previous else None,
        "head_hash": previous["hash"] if previous else None,
    }


def _bad(seq: int, problem: str, count: int) -> dict:
    return {"ok": False, "bad_seq": seq, "problem": problem, "count": count}


EXPORT_FORMAT = "compliance-audit-export/v1"
_EMBEDDED = re.compile(rb"/Type\s*/EmbeddedFile\b(.*?)>>\s*stream\r?\n", re.DOTALL)
_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")


def _lift_csv_field_limit() -> None:
    """Accept fields of any size (the default limit is 128 KiB; events can be megabytes)."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # a C long is 32 bits on some platforms
            limit //= 2


def embedded_export(pdf: bytes) -> bytes:
    """The JSON export a PDF report embeds (its one associated file in our export format)."""
    for match in _EMBEDDED.finditer(pdf):
        dictionary, start = match.group(1), match.end()
        length = _LENGTH.search(dictionary)
        if length:
            data = pdf[start : start + int(length.group(1))]
        else:
            data = pdf[start : pdf.index(b"endstream", start)].rstrip(b"\r\n")
        if b"/FlateDecode" in dictionary:
            data = zlib.decompress(data)
        if EXPORT_FORMAT.encode() in data[:4096]:
            return data
    raise ValueError("this PDF embeds no audit export (is it an audit trail report?)")


def load_export(path: str) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Read a JSON, CSV or PDF export; return its header and its events in order.

    A CSV export starts with `# name: <JSON value>` header lines, then a row of column names.
    A PDF report carries the JSON export as an embedded file.
    """
    with open(path, "rb") as handle:
        magic = handle.read(5)
    if magic == b"%PDF-":
        with open(path, "rb") as handle:
            document = json.loads(embedded_export(handle.read()).decode("utf-8"))
        header = {k: v for k, v in document.items() if k != "events"}
        return header, iter(document["events"])
    if path.endswith(".csv"):
        _lift_csv_field_limit()
        header: dict[str, Any] = {}
        with open(path, newline="", encoding="utf-8") as handle:
            lines = handle.read().splitlines(keepends=True)
        body_start = 0
        for body_start, line in enumerate(lines):  # noqa: B007 - used after the loop
            if not line.startswith("#"):
                break
            name, _, value = line[1:].strip().partition(":")
            header[name.strip()] = json.loads(value.strip()) if value.strip() else None
        else:
            body_start = len(lines)
        rows = list(csv.DictReader(lines[body_start:]))
        return header, (_csv_event(row) for row in rows)
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    header = {k: v for k, v in document.items() if k != "events"}
    return header, iter(document["events"])


def _csv_event(row: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = dict(row)
    event["seq"] = int(row["seq"])
    event["case_id"] = int(row["case_id"]) if row["case_id"] else None
    for name in ("case_ref", "object_id", "request_id"):
        event[name] = row[name] if row[name] != "" else None
    for name in JSON_FIELDS:
        event[name] = json.loads(row[name]) if row[name] else None
    return event


def checkpoint_message(checkpoint: dict[str, Any]) -> bytes:
    """The bytes a checkpoint's Ed25519 signature covers (canonical JSON of the head)."""
    payload = {name: checkpoint[name] for name in CHECKPOINT_SIGNED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")


def check_against_checkpoint(
    events: list[dict[str, Any]], first_prev_hash: str | None, checkpoint: dict[str, Any]
) -> dict | None:
    """None when the events contain the checkpointed head; otherwise the failure."""
    seq, head = checkpoint["seq"], checkpoint["head_hash"]
    if checkpoint.get("signed") is not None and checkpoint["signed"] != (
        checkpoint_message(checkpoint).decode("ascii")
    ):
        return _bad(seq, "checkpoint's signed message does not match its fields", 0)
    if events and seq == events[0]["seq"] - 1:
        found = first_prev_hash
    else:
        found = next((e["hash"] for e in events if e["seq"] == seq), None)
    if found is None:
        return _bad(seq, "export does not contain the checkpointed chain head (truncated?)", 0)
    if found != head:
        return _bad(seq, "event at the checkpointed seq has another hash (history rewritten)", 0)
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    checkpoint = None
    if "--checkpoint" in args:
        index = args.index("--checkpoint")
        if index + 1 >= len(args):
            print("--checkpoint needs a file", file=sys.stderr)
            return 2
        checkpoint = args[index + 1]
        del args[index : index + 2]
    if len(args) != 1:
        print("usage: python -m compliance.audit.verify_export FILE [--checkpoint FILE]")
        print("FILE: an audit export as written by the product (.json, .csv or the PDF report)")
        return 2
    try:
        header, events_iter = load_export(args[0])
        events = list(events_iter)
    except (OSError, ValueError, KeyError, csv.Error, zlib.error) as error:
        print(f"cannot read {args[0]}: {error}", file=sys.stderr)
        return 2
    first_prev = header.get("first_prev_hash")
    if first_prev is None and events:
        first_prev = events[0]["prev_hash"]
    result = check_subset(events) if header.get("filtered") else check_chain(events, first_prev)
    if result["ok"] and checkpoint:
        try:
            with open(checkpoint, encoding="utf-8") as handle:
                head = json.load(handle)
        except (OSError, ValueError) as error:
            print(f"cannot read {checkpoint}: {error}", file=sys.stderr)
            return 2
        result = check_against_checkpoint(events, first_prev, head) or result
    if not result["ok"]:
        print(f"FAILED seq={result['bad_seq']}: {result['problem']}")
        return 1
    kind = "filtered subset" if header.get("filtered") else "contiguous chain"
    print(
        f"OK {result['count']} events verified ({kind}), "
        f"last seq={result['head_seq']} hash={result['head_hash']}"
    )
    if checkpoint:
        print(
            "checkpoint head found in the export; check its signature with: "
            "openssl pkeyutl -verify -pubin -inkey <public_key PEM> -rawin "
            "-in <the 'signed' string> -sigfile <base64-decoded 'signature'>"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
