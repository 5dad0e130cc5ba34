"""Business rules for the recipients directory and for notices after they are sent, one
module per job; every name other modules use is here.

- `recipients`: the recipients directory, and a packet composition addressed from it
- `identifiers`: the identifiers of the material a notice targets, normalised
- `sending`: a packet sent becomes a notice (`mark_sent`, `record_notice`)
- `transitions`: the notice's workflow, the recipient's answers, who follows it up
- `referrals`: an agency's case number and agent, its requests for information
- `reading`: notices by id, by case, listed and filtered, as JSON
- `events`: the history every change appends to, and the files people bring with a step

Every change goes through one function, writes one audit event in the same transaction and
flushes; the caller (a view, the CLI, a test) commits. Import from
`compliance.notices.operations` (the names below), not from the modules.
"""

from compliance.notices.models import Notice
from compliance.notices.operations.events import ANALYST_OR_COUNSEL, COUNSEL, Upload
from compliance.notices.operations.identifiers import (
    distinct_identifiers,
    identifiers_from_packet,
    normalise_identifier,
    notices_matching,
    set_identifiers,
)
from compliance.notices.operations.reading import (
    get_information_request,
    get_notice,
    list_notices,
    next_step,
    notice_count,
    notice_json,
    notices_for_case,
    unsettled_notice_labels,
    unsettled_notices,
)
from compliance.notices.operations.recipients import (
    RECIPIENT_FIELDS,
    address_composition,
    create_recipient,
    find_recipient,
    get_recipient,
    list_recipients,
    recipient_json,
    update_recipient,
)
from compliance.notices.operations.referrals import (
    answer_information_request,
    record_information_request,
    update_referral,
)
from compliance.notices.operations.sending import mark_sent, record_notice
from compliance.notices.operations.transitions import (
    NOTICE_TRANSITIONS,
    NoticeTransition,
    find_notice_transition,
    notice_options,
    record_response,
    set_owner,
    transition_notice,
)

__all__ = [
    "ANALYST_OR_COUNSEL",
    "COUNSEL",
    "NOTICE_TRANSITIONS",
    "RECIPIENT_FIELDS",
    "distinct_identifiers",
    "Notice",
    "NoticeTransition",
    "Upload",
    "address_composition",
    "answer_information_request",
    "create_recipient",
    "find_notice_transition",
    "find_recipient",
    "get_information_request",
    "get_notice",
    "get_recipient",
    "identifiers_from_packet",
    "list_notices",
    "list_recipients",
    "mark_sent",
    "next_step",
    "normalise_identifier",
    "notice_json",
    "notice_options",
    "notices_for_case",
    "notices_matching",
    "recipient_json",
    "record_information_request",
    "record_notice",
    "record_response",
    "set_identifiers",
    "set_owner",
    "transition_notice",
    "unsettled_notices",
    "notice_count",
    "unsettled_notice_labels",
    "update_recipient",
    "update_referral",
]
