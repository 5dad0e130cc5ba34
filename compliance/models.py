"""Imports every model module so the metadata (Alembic, tests) sees every table."""

import compliance.audit.models  # noqa: F401
import compliance.auth.models  # noqa: F401
import compliance.cases.models  # noqa: F401
import compliance.evidence.models  # noqa: F401
import compliance.intel.models  # noqa: F401
import compliance.notices.models  # noqa: F401
import compliance.notices.tracking  # noqa: F401 - reminders sent, repeats flagged
import compliance.packets.models  # noqa: F401
import compliance.policies.models  # noqa: F401
import compliance.reviews.models  # noqa: F401
