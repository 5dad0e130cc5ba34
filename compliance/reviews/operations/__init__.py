"""Business rules for periodic reviews; every name other modules use is here.

- `schedules`: cadences, scheduling case and hold reviews, what is due, merged cases
- `completion`: completing a review (case and hold)
- `policy_reviews`: annual reviews of policy documents
- `notifications`: due/overdue/escalated notices, in-app notifications, the e-mail outbox

Operations flush and audit in the caller's transaction; they never commit. The scheduler's
jobs (tasks.py) call them and commit one subject at a time, so a job killed half-way keeps
what it finished and redoes the rest; unique constraints make a redo harmless.
"""

from compliance.reviews.operations.completion import complete_review, reviews_for_case
from compliance.reviews.operations.notifications import (
    KIND_LABEL,
    MAX_EMAIL_ATTEMPTS,
    NOTIFICATION_FOR_STATUS,
    ReviewLists,
    advance_review,
    mark_read,
    my_reviews,
    notify,
    open_reviews,
    recipients_for,
    record_email_attempt,
    sendable_emails,
    unread_count,
)
from compliance.reviews.operations.policy_reviews import (
    complete_policy_review,
    policy_owner_id,
    sync_policy_annual_reviews,
)
from compliance.reviews.operations.schedules import (
    STATUS_RANK,
    cadence_days,
    cadence_due,
    close_reviews_of_merged_case,
    due_pass_candidates,
    escalation_candidates,
    find_schedule,
    reviews_reaching,
    schedule_case_reviews,
    status_at,
    sync_case_reviews,
    sync_hold_reviews,
)

__all__ = [
    "KIND_LABEL",
    "MAX_EMAIL_ATTEMPTS",
    "NOTIFICATION_FOR_STATUS",
    "STATUS_RANK",
    "ReviewLists",
    "advance_review",
    "cadence_days",
    "cadence_due",
    "close_reviews_of_merged_case",
    "complete_policy_review",
    "complete_review",
    "due_pass_candidates",
    "escalation_candidates",
    "find_schedule",
    "mark_read",
    "my_reviews",
    "notify",
    "open_reviews",
    "policy_owner_id",
    "recipients_for",
    "record_email_attempt",
    "reviews_for_case",
    "reviews_reaching",
    "schedule_case_reviews",
    "sendable_emails",
    "status_at",
    "sync_case_reviews",
    "sync_hold_reviews",
    "sync_policy_annual_reviews",
    "unread_count",
]
