"""Partners' TAXII 2.1 servers: register one, pull what it adds (scheduler), push our exports.

Pulled objects go through the same import as a file (`operations.import_bundle`: validation,
TLP, storage as evidence, matching). Credentials are secrets: encrypted with Fernet under a
key kept in the instance folder (`INTEL_FEED_KEY_PATH`, default `<instance>/intel_feed.key`,
created on first use, mode 0600), never stored or logged in clear. Lose the key and the
credentials must be entered again; nothing else depends on it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import select
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound, OperationError
from compliance.extensions import db
from compliance.intel.models import IntelExport, TaxiiFeed
from compliance.intel.operations import SharingRefused, import_bundle, stored_bundle

PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 objects per poll; a larger backlog continues at the next poll
TIMEOUT = 30  # seconds per HTTP request: a silent partner must not stall the scheduler
_NAMESPACE = uuid.UUID("4c0b8a57-93f5-4d0a-b7c6-1f3f0e6d2a90")


class FeedUnavailable(OperationError):
    status = 502
    code = "partner_unavailable"


# ---------------------------------------------------------------- secrets
def _key_path() -> Path:
    configured = current_app.config.get("INTEL_FEED_KEY_PATH")
    return Path(configured) if configured else Path(current_app.instance_path) / "intel_feed.key"


def _cipher() -> Fernet:
    path = _key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return Fernet(path.read_bytes().strip())


def _encrypt(secret: str) -> str:
    return _cipher().encrypt(secret.encode()).decode()


def _decrypt(feed: TaxiiFeed) -> str:
    try:
        return _cipher().decrypt(feed.secret.encode()).decode()
    except InvalidToken:
        raise Conflict(
            f"the credential of feed {feed.id} cannot be decrypted with {_key_path()}: "
            "enter it again (compliance intel feeds set-secret)"
        ) from None


# ---------------------------------------------------------------- registering
def add_feed(
    actor: Actor,
    *,
    partner: str,
    api_root_url: str,
    collection: str,
    secret: str,
    username: str = "",
) -> TaxiiFeed:
    """Register a partner's collection; `secret` is their token (or password, with username)."""
    require_permission(actor, "intel.partners")
    partner, url = (partner or "").strip(), (api_root_url or "").strip()
    collection, username = (collection or "").strip(), (username or "").strip()
    errors = {}
    if not partner or len(partner) > 300:
        errors["partner"] = "the partner lab's name (what imports are recorded as coming from)"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(url) > 500:
        errors["url"] = "the partner's TAXII 2.1 API root, https://.../"
    elif parts.scheme == "http" and current_app.config["ENV"] == "production":
        errors["url"] = "use https in production (the credential travels with every request)"
    if not collection or len(collection) > 100:
        errors["collection"] = "the partner's collection id"
    if not secret:
        errors["secret"] = "the credential the partner issued"  # noqa: S105 - a message
    if errors:
        raise InvalidInput("the partner's server was not registered", details=errors)
    feed = TaxiiFeed(
        partner=partner,
        api_root_url=url if url.endswith("/") else url + "/",
        collection=collection,
        username=username,
        secret=_encrypt(secret),
        active=True,
        created_by=actor.label,
        created_at=utcnow(),
    )
    db.session.add(feed)
    db.session.flush()
    record(
        "taxii.feed_added",
        actor=actor,
        object_type="taxii_feed",
        object_id=feed.id,
        details={
            "partner": partner,
            "url": feed.api_root_url,
            "collection": collection,
            "auth": "basic" if username else "bearer",
        },
    )
    return feed


def set_feed_secret(actor: Actor, feed: TaxiiFeed, secret: str) -> TaxiiFeed:
    """Replace a feed's credential (the partner rotated it, or the key file was lost)."""
    require_permission(actor, "intel.partners")
    if not secret:
        raise InvalidInput(
            "the credential is empty",
            details={"secret": "the credential the partner issued"},  # noqa: S106 - a message
        )
    feed.secret = _encrypt(secret)
    db.session.flush()
    record(
        "taxii.feed_secret_set",
        actor=actor,
        object_type="taxii_feed",
        object_id=feed.id,
        details={"partner": feed.partner, "auth": "basic" if feed.username else "bearer"},
    )
    return feed


def set_feed_active(actor: Actor, feed: TaxiiFeed, active: bool) -> TaxiiFeed:
    require_permission(actor, "intel.partners")
    if feed.active != active:
        feed.active = active
        db.session.flush()
        record(
            "taxii.feed_enabled" if active else "taxii.feed_disabled",
            actor=actor,
            object_type="taxii_feed",
            object_id=feed.id,
            details={"partner": feed.partner},
        )
    return feed


def get_feed(feed_id: int) -> TaxiiFeed:
    feed = db.session.get(TaxiiFeed, feed_id)
    if feed is None:
        raise NotFound(f"no TAXII feed {feed_id}")
    return feed


def list_feeds() -> list[TaxiiFeed]:
    return list(db.session.scalars(select(TaxiiFeed).order_by(TaxiiFeed.id)))


# ---------------------------------------------------------------- talking to the partner
class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    def send(self, request: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = kwargs.get("timeout") or TIMEOUT
        return super().send(request, **kwargs)


def _collection(feed: TaxiiFeed) -> Collection:
    secret = _decrypt(feed)
    url = f"{feed.api_root_url}collections/{feed.collection}/"
    if feed.username:
        remote = Collection(url, user=feed.username, password=secret)
    else:
        remote = Collection(url, auth=_Bearer(secret))
    adapter = _TimeoutAdapter()
    remote._conn.session.mount("https://", adapter)
    remote._conn.session.mount("http://", adapter)
    return remote


def _unavailable(feed: TaxiiFeed, error: Exception) -> FeedUnavailable:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return FeedUnavailable(f"{feed.partner}'s TAXII server: {text[:300]}")


def _bundle_of(feed: TaxiiFeed, objects: list[dict[str, Any]]) -> bytes:
    """One bundle of what a poll brought; the same objects give the same bytes (duplicates)."""
    versions = sorted(
        f"{o.get('id')}@{o.get('modified') or o.get('created') or ''}" for o in objects
    )
    digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()
    bundle_id = "bundle--" + str(uuid.uuid5(_NAMESPACE, f"feed-{feed.id}:{digest}"))
    bundle = {"type": "bundle", "id": bundle_id, "objects": objects}
    return json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode()


def _chunks(objects: list[dict[str, Any]], budget: int) -> list[list[dict[str, Any]]]:
    """Objects split into bundles under `budget` bytes; every one keeps the marking definitions
    (so each part still knows its TLP)."""
    markings = [o for o in objects if o.get("type") == "marking-definition"]
    base = len(json.dumps(markings))
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = base
    for obj in objects:
        if obj.get("type") == "marking-definition":
            continue
        length = len(json.dumps(obj)) + 2
        if current and size + length > budget:
            chunks.append(markings + current)
            current, size = [], base
        current.append(obj)
        size += length
    if current or not chunks:
        chunks.append(markings + current)
    return chunks


def poll_feed(feed: TaxiiFeed, actor: Actor) -> dict[str, Any]:
    """Pull what the partner added since the last poll and import it; audited either way.

    The cursor is the partner server's own `X-TAXII-Date-Added-Last`, so our clock never
    skips or repeats their objects; it moves only when the import succeeded. A poll reads
    every page (TAXII's `added_after` is strictly after, and many objects can share one
    `date_added`, so stopping between pages could skip some); what it brings is imported as
    one bundle, or as several when it exceeds INTEL_MAX_BUNDLE_BYTES.
    """
    remote = _collection(feed)
    firsts: list[str] = []
    lasts: list[str] = []

    def remember(response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.headers.get("X-TAXII-Date-Added-Last"):
            lasts.append(response.headers["X-TAXII-Date-Added-Last"])
            firsts.append(response.headers.get("X-TAXII-Date-Added-First") or "")
        return response

    remote._conn.session.hooks["response"].append(remember)
    objects: list[dict[str, Any]] = []
    filters = {"added_after": feed.cursor} if feed.cursor else {}
    truncated = False
    try:
        for number, envelope in enumerate(as_pages(remote.get_objects, PAGE_SIZE, **filters)):
            objects += envelope.get("objects", [])
            if number + 1 >= MAX_PAGES and envelope.get("more"):
                truncated = True
                break
    except (requests.RequestException, TAXIIServiceException, ValueError) as error:
        raise _unavailable(feed, error) from None
    finally:
        remote.close()
    now = utcnow()
    summary: dict[str, Any] = {"feed": feed.id, "partner": feed.partner, "objects": len(objects)}
    imports = []
    if objects:
        budget = int(current_app.config["INTEL_MAX_BUNDLE_BYTES"] * 0.9)
        for part, chunk in enumerate(_chunks(objects, budget), start=1):
            outcome = import_bundle(
                _bundle_of(feed, chunk),
                actor,
                source=feed.partner,
                filename=f"taxii-{feed.id}-{now:%Y%m%dT%H%M%SZ}-{part}.json",
                feed_id=feed.id,
            )
            imports.append(outcome)
        summary |= {
            "imports": [o.intel_import.id for o in imports],
            "duplicates": sum(o.duplicate for o in imports),
            "tlp": sorted({o.intel_import.tlp_label for o in imports}),
            "matches": sum(len(o.matches) for o in imports),
        }
    if lasts:
        # A truncated poll resumes from the last page's first date: that page's objects may be
        # imported a second time, but nothing that shares its date is skipped.
        feed.cursor = (firsts[-1] if truncated and firsts[-1] else lasts[-1])[:40]
    feed.last_polled_at = now
    feed.last_result = (
        f"{len(objects)} object(s)"
        + (f", import(s) {summary['imports']} {', '.join(summary['tlp'])}" if objects else "")
        + (" (more to come)" if truncated else "")
    )[:500]
    db.session.flush()
    record(
        "taxii.polled",
        actor=actor,
        object_type="taxii_feed",
        object_id=feed.id,
        details={**summary, "added_after": filters.get("added_after"), "cursor": feed.cursor},
    )
    return summary


def record_poll_failure(feed: TaxiiFeed, actor: Actor, error: OperationError) -> None:
    """A failed poll leaves the cursor where it was; the feed page and the audit say why."""
    feed.last_polled_at = utcnow()
    feed.last_result = f"failed: {error.message}"[:500]
    db.session.flush()
    record(
        "taxii.poll_failed",
        actor=actor,
        object_type="taxii_feed",
        object_id=feed.id,
        details={"partner": feed.partner, "error": error.message[:500]},
    )


def push_export(actor: Actor, export: IntelExport, feed: TaxiiFeed) -> dict[str, Any]:
    """Send a confirmed export to a partner's collection (TAXII add objects); audited.

    TLP: CLEAR and GREEN may go to any community collection; AMBER, AMBER+STRICT and RED only
    to the partner the export names as its recipient.
    """
    require_permission(actor, "intel.export")
    named = " ".join(export.recipient.lower().split()) == " ".join(feed.partner.lower().split())
    if export.tlp not in ("clear", "green") and not named:
        raise SharingRefused(
            f"export {export.id} is {export.tlp_label} for {export.recipient}: it may be pushed "
            f"only to that recipient, not to {feed.partner}"
        )
    remote = _collection(feed)
    try:
        status = remote.add_objects(
            stored_bundle(export.sha256), wait_for_completion=True, poll_interval=1, timeout=60
        )
    except (requests.RequestException, TAXIIServiceException, ValueError) as error:
        raise _unavailable(feed, error) from None
    finally:
        remote.close()
    result = {
        "status_id": status.id,
        "status": status.status,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
    }
    record(
        "intel.pushed",
        actor=actor,
        object_type="intel_export",
        object_id=export.id,
        case=export.case,
        details={
            "feed": feed.id,
            "partner": feed.partner,
            "collection": feed.collection,
            "tlp": export.tlp_label,
            "sha256": export.sha256,
            **result,
        },
    )
    return result
