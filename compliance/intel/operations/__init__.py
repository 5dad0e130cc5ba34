"""Intel-sharing business rules; every name other modules use is here.

- `exports`: sharing a case as STIX (preview, confirmed export, past exports)
- `imports`: receiving a partner's bundle (limits, validation, keeping it once) and the list
- `matching`: matching kept bundles against our subjects; the findings they become
- `tlp`: what received intel's TLP keeps from leaving the building (provenance, refusals)
- `forum`: the forum's shared salt and the bundles we keep

Operations flush and audit in the caller's transaction; they never commit.
"""

from compliance.intel.operations.exports import (
    PreparedExport,
    case_findings,
    case_subject_rows,
    default_finding_ids,
    export_case,
    exports_for_case,
    get_export,
    prepare_export,
)
from compliance.intel.operations.forum import DEMO_SALT, shared_salt, stored_bundle
from compliance.intel.operations.imports import (
    ImportOutcome,
    check_bundle_shape,
    import_bundle,
    list_imports,
    match_counts,
)
from compliance.intel.operations.matching import (
    DETECTOR_NAME,
    DETECTOR_VERSION,
    match_imports,
    matches_for_case,
)
from compliance.intel.operations.tlp import (
    IntelProvenance,
    SharingRefused,
    below_source_marking,
    intel_findings,
    restricted_evidence_ids,
    restricted_finding_ids,
    restriction_message,
)

__all__ = [
    "DEMO_SALT",
    "DETECTOR_NAME",
    "DETECTOR_VERSION",
    "ImportOutcome",
    "IntelProvenance",
    "PreparedExport",
    "SharingRefused",
    "below_source_marking",
    "case_findings",
    "case_subject_rows",
    "check_bundle_shape",
    "default_finding_ids",
    "export_case",
    "exports_for_case",
    "get_export",
    "import_bundle",
    "intel_findings",
    "list_imports",
    "match_counts",
    "match_imports",
    "matches_for_case",
    "prepare_export",
    "restricted_evidence_ids",
    "restricted_finding_ids",
    "restriction_message",
    "shared_salt",
    "stored_bundle",
]
