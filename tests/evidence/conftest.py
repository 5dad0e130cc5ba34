"""Builders for detector findings and ingest tokens, shared by the evidence tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from compliance.extensions import db
from tests.findings import make_finding

_ids = itertools.count(1)


@pytest.fixture
def finding() -> Callable[..., dict[str, Any]]:
    """Factory: a valid finding (schema v1); keyword arguments replace top-level fields."""

    def build(**overrides: Any) -> dict[str, Any]:
        return make_finding(**{"external_id": f"qf-20261018-{next(_ids):04d}", **overrides})

    return build


@pytest.fixture
def ingest_token(app: Any, operator: Any) -> str:
    """A live token with the ingest scope (and read, to look at the result)."""
    from compliance.auth.operations import create_token

    _token, raw = create_token(operator, "query-fingerprint detector", ["ingest", "read"])
    db.session.commit()
    return raw


@pytest.fixture
def post_findings(client: Any, ingest_token: str) -> Callable[..., Any]:
    """post_findings(body) -> response of POST /api/v1/findings with the ingest token."""

    def post(body: Any, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or ingest_token}"}
        if "data" in kwargs:
            return client.post("/api/v1/findings", headers=headers, **kwargs)
        return client.post("/api/v1/findings", headers=headers, json=body)

    return post


def count_rows() -> dict[str, int]:
    """Rows in every evidence table and cases (the all-or-nothing tests compare these)."""
    from compliance.cases.models import Case, CaseSubject, Subject
    from compliance.evidence.models import CustodyEvent, DuplicateFlag, EvidenceItem, Finding

    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (
            Case,
            Finding,
            EvidenceItem,
            CustodyEvent,
            Subject,
            CaseSubject,
            DuplicateFlag,
        )
    }


def count_blobs(app: Any) -> int:
    """Blobs in the store (single files or packed), plus any temporary file left behind."""
    from compliance.evidence.store import FilesystemStore

    store = FilesystemStore(app.config["EVIDENCE_DIR"])
    return len(list(store.hashes())) + sum(1 for _ in Path(store.tmp).iterdir())


@pytest.fixture
def snapshot(app: Any) -> Callable[[], tuple[dict[str, int], int]]:
    return lambda: (count_rows(), count_blobs(app))


def tamper(store: Any, sha256: str) -> None:
    """Change a stored blob's bytes in place, as someone with access to the disk could."""
    from compliance.evidence.store import read_pack_index

    if store.path(sha256).exists():
        path, offset = store.path(sha256), 0
    else:
        path, offset = next(
            (pack, entry_offset)
            for pack in store.packs.iterdir()
            for sha, entry_offset, _length in read_pack_index(pack)
            if sha == sha256
        )
    path.chmod(0o644)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        first = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([first[0] ^ 0xFF]))
