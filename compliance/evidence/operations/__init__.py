"""Evidence business rules, one module per job; every name other modules use is here.

- `ingest`: findings entering the system (API, CLI, upload form), in named stages
- `placement`: correlating a batch's findings into open cases or new ones
- `rows`: the batch's multi-row INSERTs
- `uploads`: files people bring, corrections that supersede items
- `custody`: the chain of custody of an item (reads, downloads, exports)
- `integrity`: verifying the store, orphan blobs, moving the store
- `duplicates`: cases sharing subjects, possible-duplicate flags and their resolution

Import from `compliance.evidence.operations` (the names below), not from the modules: the
split is an internal arrangement.
"""

from compliance.evidence.operations.custody import (
    READ_ACTIONS,
    download_item,
    get_item,
    record_custody,
    record_view,
)
from compliance.evidence.operations.duplicates import (
    duplicate_flags,
    get_flag,
    open_flags_for,
    resolve_duplicate,
)
from compliance.evidence.operations.ingest import (
    IngestOutcome,
    canonical_json,
    ingest_findings,
    may_ingest,
    record_rejected_batch,
)
from compliance.evidence.operations.integrity import (
    MOVE_BATCH_BYTES,
    ORPHAN_GRACE_SECONDS,
    StoreMove,
    VerifyReport,
    clean_orphans,
    find_orphans,
    move_store,
    verify_evidence,
)
from compliance.evidence.operations.uploads import (
    add_evidence_file,
    covered_evidence,
    evidence_count,
    superseded_ids,
)

__all__ = [
    "MOVE_BATCH_BYTES",
    "ORPHAN_GRACE_SECONDS",
    "READ_ACTIONS",
    "IngestOutcome",
    "StoreMove",
    "VerifyReport",
    "add_evidence_file",
    "canonical_json",
    "clean_orphans",
    "covered_evidence",
    "download_item",
    "duplicate_flags",
    "evidence_count",
    "find_orphans",
    "get_flag",
    "get_item",
    "ingest_findings",
    "may_ingest",
    "move_store",
    "open_flags_for",
    "record_custody",
    "record_rejected_batch",
    "record_view",
    "resolve_duplicate",
    "superseded_ids",
    "verify_evidence",
]
