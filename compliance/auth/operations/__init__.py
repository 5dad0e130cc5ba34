"""Users and API tokens, one module per job; every name other modules use is here.

- `users`: creating users, invitations, passwords, activating and deactivating
- `roles`: role changes and their four-eyes grants
- `sign_in`: the password check, the client's back-off, the windowed audit of failures
- `sessions`: opening a session at the end of a sign-in, finding its user, signing out
- `two_factor`: TOTP enrolment and checks, recovery codes, an admin's reset
- `api_tokens`: issuing, revoking and recognising API tokens

Import from `compliance.auth.operations` (the names below), not from the modules: the split
is an internal arrangement.
"""

from compliance.auth.operations.api_tokens import (
    TOKEN_PREFIX,
    create_token,
    revoke_token,
    token_from_header,
)
from compliance.auth.operations.roles import (
    cancel_grant,
    confirm_grant,
    get_grant,
    role_grants,
    set_role,
)
from compliance.auth.operations.sessions import (
    active_session_counts,
    complete_sign_in,
    session_user,
    sign_out,
    sign_out_everywhere,
)
from compliance.auth.operations.sign_in import (
    BACKOFF_MAX,
    FAILURE_WINDOW,
    THROTTLE_AFTER,
    SignIn,
    authenticate,
    report_closed_windows,
)
from compliance.auth.operations.two_factor import (
    RECOVERY_CODES,
    check_second_factor,
    enable_two_factor,
    new_totp_secret,
    record_second_factor_failure,
    reset_two_factor,
    totp_uri,
    two_factor_required,
)
from compliance.auth.operations.users import (
    EMAIL_RE,
    INVITATION_VALID,
    MIN_PASSWORD_LENGTH,
    accept_invitation,
    create_user,
    find_user,
    invited_user,
    issue_invitation,
    set_active,
    set_password,
)

__all__ = [
    "BACKOFF_MAX",
    "EMAIL_RE",
    "FAILURE_WINDOW",
    "INVITATION_VALID",
    "MIN_PASSWORD_LENGTH",
    "RECOVERY_CODES",
    "THROTTLE_AFTER",
    "TOKEN_PREFIX",
    "SignIn",
    "accept_invitation",
    "active_session_counts",
    "authenticate",
    "cancel_grant",
    "check_second_factor",
    "complete_sign_in",
    "confirm_grant",
    "create_token",
    "create_user",
    "enable_two_factor",
    "find_user",
    "get_grant",
    "invited_user",
    "issue_invitation",
    "new_totp_secret",
    "record_second_factor_failure",
    "report_closed_windows",
    "reset_two_factor",
    "revoke_token",
    "role_grants",
    "session_user",
    "set_active",
    "set_password",
    "set_role",
    "sign_out",
    "sign_out_everywhere",
    "token_from_header",
    "totp_uri",
    "two_factor_required",
]
