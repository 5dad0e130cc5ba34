"""Finding policy documents, versions and clauses (`api-terms@2026-03#4.2`)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from compliance.errors import InvalidInput, NotFound
from compliance.extensions import db
from compliance.policies.models import PolicyClause, PolicyDocument, PolicyVersion
from compliance.policies.parsing import CLAUSE_NUMBER_RE

# `api-terms@2026-03#4.2`: document id, version, clause number.
CLAUSE_REFERENCE_RE = re.compile(rf"^([^@#\s]+)@([^@#\s]+)#({CLAUSE_NUMBER_RE})$")


def list_documents() -> list[PolicyDocument]:
    return list(
        db.session.scalars(
            select(PolicyDocument)
            .options(selectinload(PolicyDocument.versions))
            .order_by(PolicyDocument.title)
        )
    )


def get_document(key: str) -> PolicyDocument:
    document = db.session.scalar(select(PolicyDocument).where(PolicyDocument.key == key))
    if document is None:
        raise NotFound(f"no policy document {key!r}")
    return document


def get_version(key: str, version: str) -> PolicyVersion:
    found = db.session.scalar(
        select(PolicyVersion)
        .join(PolicyDocument)
        .where(PolicyDocument.key == key, PolicyVersion.version == version)
    )
    if found is None:
        if db.session.scalar(select(PolicyDocument.id).limit(1)) is None:
            # A fresh instance: the library is filled from policies/ by a sync, not by hand.
            raise NotFound(
                "no policy documents are stored yet: run `compliance policies sync` first"
            )
        raise NotFound(f"no version {version!r} of policy document {key!r}")
    return found


def find_clause(reference: str) -> PolicyClause:
    """The clause named `document@version#number`, e.g. `api-terms@2026-03#4.2`."""
    match = CLAUSE_REFERENCE_RE.match((reference or "").strip())
    if not match:
        raise InvalidInput(
            f"{reference!r} is not a clause reference",
            details={"clause": "write document@version#number, e.g. api-terms@2026-03#4.2"},
        )
    key, version_label, number = match.groups()
    version = get_version(key, version_label)
    clause = version.clause(number)
    if clause is None:
        raise NotFound(f"{version.label} has no clause {number}")
    return clause
