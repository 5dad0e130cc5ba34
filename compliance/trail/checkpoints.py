"""Signed chain heads: the proof, kept outside the database, of how far the log reached.

A chain alone proves that no stored event was edited; it cannot show that events were cut
from the end, or that the whole history was recomputed. A checkpoint (sequence number,
head hash, time) signed with the instance's Ed25519 key and written to CHECKPOINT_DIR (a
location outside the database: another disk, a WORM bucket mount, a regulator's inbox)
fixes the log's length and content at that moment: later logs must extend it.

The signed file is also kept in the evidence store (content addressed, write-once), where every
host reads it: the audit page offers it for download whichever scheduler wrote it. Every host
must mount the same key (COMPLIANCE_AUDIT_KEY_PATH): a host with another key refuses to sign,
since its checkpoints would not verify against the earlier ones.

The signature covers `checkpoint_message()` from verify_export (canonical JSON of
created_at, head_hash, key_id, seq); anyone can check it with the public key in the file.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app
from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import _head, format_time, record, verify_chain
from compliance.audit.keys import instance_key, key_id, key_path, public_pem
from compliance.audit.models import AuditCheckpoint, AuditEvent
from compliance.audit.verify_export import checkpoint_message
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput
from compliance.extensions import db


def checkpoint_dir() -> Path:
    path = Path(current_app.config["CHECKPOINT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_checkpoint(actor: Actor) -> AuditCheckpoint:
    """Sign the current chain head, store it, export it as a JSON file; the scheduler's job.

    The head is read under the append lock, so it is exactly the last event of the chain.
    """
    from compliance.evidence.store import blob_store

    key = instance_key()
    public = key.public_key()
    previous = latest_checkpoint()
    if previous is not None and previous.key_id != key_id(public):
        raise Conflict(
            f"this host's audit key ({key_path()}, key {key_id(public)[:16]}) is not the key "
            f"that signed checkpoint seq={previous.seq} (key {previous.key_id[:16]}): mount the "
            "same COMPLIANCE_AUDIT_KEY_PATH on every host"
        )
    session = db.session()
    seq, head_hash = _head(session)
    document: dict[str, Any] = {
        "seq": seq,
        "head_hash": head_hash,
        "created_at": format_time(utcnow()),
        "key_id": key_id(public),
    }
    message = checkpoint_message(document)
    document["signed"] = message.decode("ascii")
    document["signature"] = base64.b64encode(key.sign(message)).decode("ascii")
    document["public_key"] = public_pem(public)
    document["algorithm"] = "Ed25519"
    file_name = f"checkpoint-{seq:012d}-{document['created_at'].replace(':', '')}.json"
    content = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    sha256, _created = blob_store().put(content)
    target = checkpoint_dir() / file_name
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(content)
    temporary.replace(target)  # atomic: a reader never sees half a checkpoint
    checkpoint = AuditCheckpoint(
        seq=seq,
        head_hash=head_hash,
        created_by=actor.label,
        key_id=document["key_id"],
        public_key=document["public_key"],
        signature=document["signature"],
        file_name=file_name,
        sha256=sha256,
    )
    db.session.add(checkpoint)
    db.session.flush()
    record(
        "audit.checkpoint",
        actor=actor,
        object_type="audit_checkpoint",
        object_id=checkpoint.id,
        details={"seq": seq, "head_hash": head_hash, "file": file_name, "key_id": key_id(public)},
    )
    return checkpoint


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def checkpoint_file(checkpoint: AuditCheckpoint) -> bytes:
    """The signed checkpoint file as stored, checked against its hash (any host can serve it)."""
    from compliance.evidence.store import BlobDamaged, blob_store, checked_bytes

    if not checkpoint.sha256:
        raise Conflict(f"checkpoint seq={checkpoint.seq} predates stored checkpoint files")
    try:
        return checked_bytes(blob_store(), checkpoint.sha256)
    except BlobDamaged as damage:
        raise Conflict(
            f"checkpoint seq={checkpoint.seq} file is {damage.status} in the store "
            f"(sha256={checkpoint.sha256}); run `compliance evidence verify`"
        ) from None


@dataclass
class CheckpointReport:
    ok: bool
    seq: int
    problem: str | None = None
    bad_seq: int | None = None
    head_seq: int | None = None


def verify_signature(
    document: dict[str, Any], trusted: Ed25519PublicKey | None = None
) -> str | None:
    """None when the checkpoint is signed by the trusted key (default: this instance's key)."""
    try:
        message = checkpoint_message(document)
        signature = base64.b64decode(document["signature"], validate=True)
        public = serialization.load_pem_public_key(document["public_key"].encode("ascii"))
    except (KeyError, ValueError, TypeError) as error:
        return f"malformed checkpoint: {error}"
    if not isinstance(public, Ed25519PublicKey):
        return "checkpoint key is not Ed25519"
    trusted = trusted or instance_key().public_key()
    if key_id(public) != key_id(trusted) or document.get("key_id") != key_id(trusted):
        return "checkpoint was not signed with this instance's key"
    if document.get("signed") is not None and document["signed"] != message.decode("ascii"):
        return "checkpoint's signed message does not match its fields"
    try:
        trusted.verify(signature, message)
    except InvalidSignature:
        return "checkpoint signature is invalid"
    return None


def verify_against_checkpoint(document: dict[str, Any]) -> CheckpointReport:
    """Prove the current log extends a checkpoint: signed by us, its head present, chain intact."""
    seq = int(document.get("seq", -1))
    problem = verify_signature(document)
    if problem:
        return CheckpointReport(ok=False, seq=seq, problem=problem)
    if seq > 0:
        stored = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
        if stored is None:
            return CheckpointReport(
                ok=False,
                seq=seq,
                bad_seq=seq,
                problem=f"log truncated: the checkpointed event seq={seq} is missing",
            )
        if stored != document["head_hash"]:
            return CheckpointReport(
                ok=False,
                seq=seq,
                bad_seq=seq,
                problem=f"history rewritten: seq={seq} no longer has the checkpointed hash",
            )
    chain = verify_chain()
    if not chain.ok:
        return CheckpointReport(
            ok=False, seq=seq, bad_seq=chain.bad_seq, problem=f"chain broken: {chain.problem}"
        )
    return CheckpointReport(ok=True, seq=seq, head_seq=chain.head_seq)


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"cannot read checkpoint {path}: {error}") from error


def run_verification(actor: Actor) -> Any:
    """Verify the whole chain now and record the result (the audit page shows the last one)."""
    report = verify_chain()
    record(
        "audit.verified",
        actor=actor,
        object_type="audit_chain",
        details={
            "ok": report.ok,
            "count": report.count,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "bad_seq": report.bad_seq,
            "problem": report.problem,
        },
    )
    return report


def last_verification() -> AuditEvent | None:
    """The most recent recorded verification (read through the action index: constant cost)."""
    return db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "audit.verified")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
