"""Periodic intel work for the scheduler: match kept bundles against subjects that arrived since."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from compliance.actor import Actor
from compliance.errors import OperationError
from compliance.extensions import db
from compliance.intel.models import TaxiiFeed
from compliance.intel.operations import match_imports


def rematch_intel(now: datetime | None = None) -> dict[str, Any]:
    """Match every kept bundle against new subjects; commits (a scheduler job target).

    Cheap when nothing arrived: each bundle remembers the last subject it was matched against.
    """
    matches = match_imports(Actor.system("intel-rematch"))
    summary = {
        "matches": len(matches),
        "cases": sorted({m.case.ref for m in matches}),
    }
    db.session.commit()
    return summary


def poll_taxii_feeds(now: datetime | None = None) -> dict[str, Any]:
    """Pull from every active partner TAXII collection (a scheduler job target).

    Each feed commits on its own: one partner's failure (recorded on the feed and audited,
    cursor unchanged) does not hold back the others.
    """
    from compliance.intel.taxii_client import poll_feed, record_poll_failure

    actor = Actor.system("intel-taxii-poll")
    results: list[dict[str, Any]] = []
    feed_ids = db.session.scalars(
        select(TaxiiFeed.id).where(TaxiiFeed.active.is_(True)).order_by(TaxiiFeed.id)
    ).all()
    for feed_id in feed_ids:
        try:
            results.append(poll_feed(db.session.get(TaxiiFeed, feed_id), actor))
            db.session.commit()
        except OperationError as error:
            db.session.rollback()
            feed = db.session.get(TaxiiFeed, feed_id)
            record_poll_failure(feed, actor, error)
            db.session.commit()
            results.append({"feed": feed_id, "partner": feed.partner, "error": error.message})
    return {"feeds": results}
