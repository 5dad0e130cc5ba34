"""Imports every model so the metadata (Alembic, tests) sees every table."""

from compliance.audit.models import AuditCheckpoint, AuditEvent
from compliance.auth.models import ApiToken, User
from compliance.cases.search import CaseSearchDocument
from compliance.cases.models import Case, CaseNote, CaseNoteRevision, CaseRefCounter, CaseTransition
from compliance.cases.retention import CaseMerge
from compliance.evidence.models import (
    CaseSubject,
    CustodyEvent,
    DuplicateFlag,
    EvidenceItem,
    Finding,
    Subject,
)
from compliance.intel.models import IntelExport, IntelImport, IntelIndicator, IntelMatch  # noqa: F401
from compliance.packets.models import BatesCounter, BatesGap, Packet
from compliance.policies.models import (
    ClauseCitation,
    PolicyClause,
    PolicyDocument,
    PolicyVersion,
)
from compliance.reviews.models import JobRun, Notification, OutboxEmail, Review, ReviewSchedule

__all__ = [
    "CaseSearchDocument",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "BatesCounter",
    "BatesGap",
    "Case",
    "CaseMerge",
    "CaseSubject",
    "CustodyEvent",
    "DuplicateFlag",
    "EvidenceItem",
    "Finding",
    "Subject",
    "CaseNote",
    "CaseNoteRevision",
    "CaseRefCounter",
    "CaseTransition",
    "ClauseCitation",
    "Packet",
    "PolicyClause",
    "PolicyDocument",
    "PolicyVersion",
    "JobRun",
    "Notification",
    "OutboxEmail",
    "Review",
    "ReviewSchedule",
    "User",
]
