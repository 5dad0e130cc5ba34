"""Imports every model so the metadata (Alembic, tests) sees every table."""

from compliance.audit.models import AuditEvent
from compliance.auth.models import ApiToken, User
from compliance.cases.models import Case, CaseNote, CaseNoteRevision, CaseRefCounter, CaseTransition

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Case",
    "CaseNote",
    "CaseNoteRevision",
    "CaseRefCounter",
    "CaseTransition",
    "User",
]
