"""Demo step: ingest evidence_samples/ through the real ingestion path, as a detector would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from compliance import PROJECT_ROOT
from compliance.actor import Actor
from compliance.auth.models import ApiToken
from compliance.auth.operations import create_token
from compliance.evidence.files import read_batch
from compliance.evidence.operations import ingest_findings
from compliance.extensions import db

SAMPLES = PROJECT_ROOT / "evidence_samples"
DEMO_TOKEN = "demo abuse pipeline"  # noqa: S105 - a token's name, not a secret


def _detector_actor() -> Actor:
    """The demo detector's token (created once), so findings are recorded as a detector's."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == DEMO_TOKEN))
    if token is None:
        token, _raw = create_token(Actor.cli_operator(), DEMO_TOKEN, ["ingest"])
        db.session.commit()  # the raw token is not kept: the demo acts as the token's owner
    return Actor.for_token(token)


def load_samples(echo: Callable[[str], None]) -> None:
    """Ingest every sample file in order; re-running reports duplicates and changes nothing."""
    actor = _detector_actor()
    for path in sorted(Path(SAMPLES).glob("*.json*")):
        outcomes = ingest_findings(read_batch(path), actor, channel="demo")
        db.session.commit()
        summary = ", ".join(f"{o.status} {o.case_ref}" for o in outcomes)
        echo(f"  {path.name}: {summary}")
