"""Backup and restore: the database, the evidence blobs, policy files and audit checkpoints.

A backup is a folder:

    manifest.json        format, backend, time, counts, audit head, and the SHA-256 and size
                         of every other file in the folder
    database.sqlite3     SQLite: a consistent copy made with the online backup API
    database.pgdump      PostgreSQL: `pg_dump --format=custom`
    evidence/sha256/...  every blob of the evidence store, one file each, read through the
                         store's own interface (`hashes()`, `get()`), so any store backend
                         backs up the same way; restore writes them back with `put()`
                         (the PostgreSQL dump leaves out `evidence_blobs` rows: blobs travel
                         once, as these files)
    policies/...         every file of the policies folder, at any depth (versions live in
                         policies/<document>/<version>.md)
    checkpoints/...      signed audit chain heads (every *.json, at any depth)
    keys/audit_key.pem   the instance's checkpoint signing key (so restored checkpoints verify)
    keys/signing_key.p12 the packet signing PKCS#12, when one is configured (its password is
                         configuration, not a file: it is not in the backup). A backup
                         therefore holds secrets and must be kept like one.

The manifest also records, for every table of the database, its row count and a digest of
its rows (`tables`), computed from the very snapshot that was copied. A restore (and a drill,
below) recomputes them on the restored database and re-hashes every restored file against
the manifest: a row or a file that did not come back identical is named.

One module per job:

- `manifest`: the format, `verify_manifest`, `newest_backup`, the error and the operator rule
- `database`: the database copy (SQLite backup API, `pg_dump`), its restore, row digests
- `files`: evidence blobs, policy files, checkpoints and keys, out and back in
- `writing`: `backup`, which writes a backup folder and its manifest
- `restoring`: `restore` onto this instance, checked against the manifest
- `drills`: the restore drill into a temporary instance, and `last_drill` for the audit page
- `cli`: `compliance backup DIR`, `compliance backup drill [DIR]`, `compliance restore DIR`

Import from `compliance.backup` (the names below), not from the modules: the split is an
internal arrangement.
"""

from compliance.backup.database import (
    BLOB_TABLES,
    COUNTED,
    compare_tables,
    counts,
    database_has_data,
    restored_tables,
    table_digests,
)
from compliance.backup.drills import DrillReport, drill, last_drill
from compliance.backup.files import check_restored_files
from compliance.backup.manifest import FORMAT, MANIFEST, BackupError, newest_backup, verify_manifest
from compliance.backup.restoring import restore
from compliance.backup.writing import BackupReport, backup

__all__ = [
    "BLOB_TABLES",
    "COUNTED",
    "FORMAT",
    "MANIFEST",
    "BackupError",
    "BackupReport",
    "DrillReport",
    "backup",
    "check_restored_files",
    "compare_tables",
    "counts",
    "database_has_data",
    "drill",
    "last_drill",
    "newest_backup",
    "restore",
    "restored_tables",
    "table_digests",
    "verify_manifest",
]
