"""Demo step: receive the sample bundles in evidence_samples/intel/ as an analyst would."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.auth.models import User
from compliance.extensions import db
from compliance.intel.operations import import_bundle

SAMPLES = PROJECT_ROOT / "evidence_samples" / "intel"
# (file, the forum member that sent it): one matches the demo campaigns, one does not.
SAMPLE_BUNDLES = [
    ("corvid-lattice-amber.json", "Corvid Labs (forum member)"),
    ("halcyon-unrelated-green.json", "Halcyon Labs (forum member)"),
]
DEMO_ANALYST = "sam.okafor@lab.example"


def load_intel_samples(echo: Callable[[str], None]) -> None:
    """Import each sample bundle; a second run finds them already received and changes nothing."""
    user = db.session.scalar(select(User).where(User.email == DEMO_ANALYST))
    actor = Actor.for_user(user) if user is not None else Actor.cli_operator()
    for name, source in SAMPLE_BUNDLES:
        outcome = import_bundle((SAMPLES / name).read_bytes(), actor, source=source, filename=name)
        db.session.commit()
        record = outcome.intel_import
        if outcome.duplicate:
            echo(f"  intel {name}: already received (import {record.id})")
            continue
        cases = sorted({m.case.ref for m in outcome.matches})
        echo(
            f"  intel {name}: {record.tlp_label}, {len(outcome.matches)} match(es)"
            + (f" on {', '.join(cases)}" if cases else " (kept for later matching)")
        )
