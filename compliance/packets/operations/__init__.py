"""Packet business rules, one module per job; every name other modules use is here.

- `requests`: asking for a preview, a final build from a preview, a retry; a case's packets
- `signatories`: signatory profiles, the records custodian, people as a packet prints them
- `addressing`: a composition addressed from the recipients directory (a hook notices fill)
- `previews`: what a composition form offers, the review of a preview before the final build
- `gathering`: the facts a packet draws on, and the document and inputs made of them
- `exhibits`: the evidence exhibits, one per finding and per uploaded file
- `bates`: the Bates counter and its reservations
- `building`: the stages of a build (take, lay out, reserve, store) and a failed build
- `sending`: the packet's side of recording that it went out (notices open the notice)
- `downloads`: the stored file, hash-checked, and its audited downloads

Import from `compliance.packets.operations` (the names below), not from the modules: the
split is an internal arrangement. Operations flush and audit and never commit: the worker
that builds packets (`compliance.packets.tasks.build_packet`) commits between the stages.
"""

from compliance.packets.models import Packet
from compliance.packets.operations.addressing import composition_addressers
from compliance.packets.operations.bates import counter_value, reserve_range
from compliance.packets.operations.building import (
    MAX_LAYOUT_ATTEMPTS,
    BuildResult,
    Layout,
    document_for_build,
    lay_out,
    mark_failed,
    reserve_numbers,
    start_build,
    store_packet,
)
from compliance.packets.operations.downloads import download_packet, packet_bytes
from compliance.packets.operations.gathering import (
    DEFAULT_ORGANISATION,
    Document,
    _clauses,
    attachments_for,
    document_of,
    gather,
    gather_for,
)
from compliance.packets.operations.previews import (
    ComposeOptions,
    Review,
    compose_options,
    composition_review,
    review_composition,
)
from compliance.packets.operations.requests import (
    FINAL_STATES,
    check_final,
    get_packet,
    may_read,
    packets_for_case,
    request_final,
    request_packet,
    retry_packet,
    sent_packet_types,
)
from compliance.packets.operations.sending import record_sending
from compliance.packets.operations.signatories import (
    PROFILE_FIELDS,
    REQUIRED_PROFILE_FIELDS,
    set_signatory_profile,
    signatory_profile,
)

__all__ = [
    "DEFAULT_ORGANISATION",
    "FINAL_STATES",
    "MAX_LAYOUT_ATTEMPTS",
    "PROFILE_FIELDS",
    "REQUIRED_PROFILE_FIELDS",
    "BuildResult",
    "ComposeOptions",
    "Document",
    "Layout",
    "Packet",
    "Review",
    "_clauses",
    "attachments_for",
    "check_final",
    "compose_options",
    "composition_addressers",
    "composition_review",
    "counter_value",
    "document_for_build",
    "document_of",
    "download_packet",
    "gather",
    "gather_for",
    "get_packet",
    "lay_out",
    "mark_failed",
    "may_read",
    "packet_bytes",
    "packets_for_case",
    "record_sending",
    "request_final",
    "request_packet",
    "reserve_numbers",
    "reserve_range",
    "retry_packet",
    "review_composition",
    "sent_packet_types",
    "set_signatory_profile",
    "signatory_profile",
    "start_build",
    "store_packet",
]
