"""Our TAXII 2.1 server's rules: collections per sharing community, partner tokens, and what a
partner may read (TLP), with every read audited.

What a collection holds: the bundles counsel exported and then published to it. A partner
reads with a bearer token scoped to one collection. TLP decides, object by object:
- nothing above the collection's marking (`max_tlp`), and never TLP:RED (named recipients only:
  send RED bundles to the named people, not through a shared collection);
- TLP:AMBER+STRICT only to the partner the export names as its recipient;
- an object's own marking (object or granular level) counts as well as its bundle's.

Operations flush and audit in the caller's transaction; they never commit.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from compliance.actor import Actor
from compliance.audit.chain import record
from compliance.auth.permissions import require_permission
from compliance.auth.tokens import token_digest
from compliance.db import utcnow
from compliance.errors import Conflict, InvalidInput, NotFound
from compliance.extensions import db
from compliance.intel import stix
from compliance.intel.models import PUBLISHABLE_TLP, IntelExport, PartnerToken, TaxiiCollection
from compliance.intel.operations import SharingRefused, stored_bundle

TOKEN_PREFIX = "taxii_"  # noqa: S105 - a label, not a secret
MAX_PAGE = 100  # objects per page, whatever `limit` asks


def _level(tlp: str) -> int:
    return stix.TLP_ORDER.index(tlp)


def taxii_time(value: datetime) -> str:
    """TAXII timestamps: UTC, microseconds, 'Z'."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_taxii_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"added_after {text!r} is not a timestamp") from None
    if value.tzinfo is None:
        raise InvalidInput("added_after needs a time zone (end it with Z)")
    return value.astimezone(UTC)


def partner_actor(token: PartnerToken) -> Actor:
    """Who the audit trail names for a partner's read."""
    return Actor(label=token.actor_label, role=None, name=token.partner)


# ---------------------------------------------------------------- collections and tokens
def create_collection(
    actor: Actor, *, title: str, community: str, max_tlp: str, description: str = ""
) -> TaxiiCollection:
    """A collection for one sharing community, capped at `max_tlp` (never RED)."""
    require_permission(actor, "intel.partners")
    level = stix.parse_tlp(max_tlp)
    errors = {}
    if level not in PUBLISHABLE_TLP:
        errors["max_tlp"] = "TLP:RED is for named recipients only and is never published"
    title, community = (title or "").strip(), (community or "").strip()
    if not title or len(title) > 200:
        errors["title"] = "1 to 200 characters"
    if not community or len(community) > 300:
        errors["community"] = "say which sharing community reads it (1 to 300 characters)"
    if errors:
        raise InvalidInput("the collection was not created", details=errors)
    collection = TaxiiCollection(
        taxii_id=str(uuid.uuid4()),
        title=title,
        description=(description or "").strip(),
        community=community,
        max_tlp=level,
        created_by=actor.label,
        created_at=utcnow(),
    )
    db.session.add(collection)
    db.session.flush()
    record(
        "taxii.collection_created",
        actor=actor,
        object_type="taxii_collection",
        object_id=collection.id,
        details={
            "taxii_id": collection.taxii_id,
            "title": title,
            "community": community,
            "max_tlp": collection.tlp_label,
        },
    )
    return collection


def list_collections() -> list[TaxiiCollection]:
    return list(db.session.scalars(select(TaxiiCollection).order_by(TaxiiCollection.id)))


def find_collection(ref: str) -> TaxiiCollection:
    """A collection by its TAXII id or our row id."""
    query = select(TaxiiCollection).where(TaxiiCollection.taxii_id == ref)
    collection = db.session.scalar(query)
    if collection is None and ref.isdigit():
        collection = db.session.get(TaxiiCollection, int(ref))
    if collection is None:
        raise NotFound(f"no TAXII collection {ref}")
    return collection


def create_partner_token(
    actor: Actor, *, partner: str, collection: TaxiiCollection
) -> tuple[PartnerToken, str]:
    """Issue a partner's token for one collection; the raw token is returned once, never kept."""
    require_permission(actor, "intel.partners")
    partner = (partner or "").strip()
    if not partner or len(partner) > 300:
        raise InvalidInput(
            "name the partner lab", details={"partner": "1 to 300 characters, as exports name it"}
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = PartnerToken(
        partner=partner,
        collection_id=collection.id,
        token_hash=token_digest(raw),
        prefix=raw[:12],
        created_by=actor.label,
        created_at=utcnow(),
    )
    db.session.add(token)
    db.session.flush()
    record(
        "taxii.token_created",
        actor=actor,
        object_type="taxii_partner_token",
        object_id=token.id,
        details={"partner": partner, "collection": collection.taxii_id, "prefix": token.prefix},
    )
    return token, raw


def revoke_partner_token(actor: Actor, token_id: int) -> PartnerToken:
    require_permission(actor, "intel.partners")
    token = db.session.get(PartnerToken, token_id)
    if token is None:
        raise NotFound(f"no partner token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        record(
            "taxii.token_revoked",
            actor=actor,
            object_type="taxii_partner_token",
            object_id=token.id,
            details={"partner": token.partner, "collection": token.collection.taxii_id},
        )
    return token


def list_partner_tokens() -> list[PartnerToken]:
    return list(db.session.scalars(select(PartnerToken).order_by(PartnerToken.id)))


def partner_from_secret(raw: str) -> PartnerToken | None:
    """The live partner token matching `raw`, compared in constant time; records its use."""
    digest = token_digest(raw)
    token = db.session.scalar(select(PartnerToken).where(PartnerToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    return token


# ---------------------------------------------------------------- publishing
def publish_export(actor: Actor, export: IntelExport, collection: TaxiiCollection) -> IntelExport:
    """Serve a confirmed export from `collection`, if its TLP allows it there."""
    require_permission(actor, "intel.export")
    if export.tlp not in PUBLISHABLE_TLP:
        raise SharingRefused(
            f"export {export.id} is {export.tlp_label}: named recipients only, never published "
            "to a collection (send it to them directly)"
        )
    if _level(export.tlp) > _level(collection.max_tlp):
        raise SharingRefused(
            f"export {export.id} is {export.tlp_label}, above what collection "
            f"'{collection.title}' serves ({collection.tlp_label})"
        )
    if export.collection_id is not None and export.collection_id != collection.id:
        raise Conflict(f"export {export.id} is already published in another collection")
    if export.collection_id == collection.id:
        return export
    export.collection_id = collection.id
    export.published_at = utcnow()
    db.session.flush()
    record(
        "intel.published",
        actor=actor,
        object_type="intel_export",
        object_id=export.id,
        case=export.case,
        details={
            "collection": collection.taxii_id,
            "community": collection.community,
            "tlp": export.tlp_label,
            "sha256": export.sha256,
            "recipient": export.recipient,
        },
    )
    return export


# ---------------------------------------------------------------- what a partner reads
@dataclass(frozen=True)
class ServedObject:
    obj: dict[str, Any]
    date_added: datetime
    export_id: int

    @property
    def version(self) -> str:
        return str(
            self.obj.get("modified") or self.obj.get("created") or taxii_time(self.date_added)
        )


def _same_partner(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _export_visible(export: IntelExport, token: PartnerToken) -> bool:
    collection = token.collection
    if export.tlp not in PUBLISHABLE_TLP or _level(export.tlp) > _level(collection.max_tlp):
        return False
    return export.tlp != "amber+strict" or _same_partner(export.recipient, token.partner)


def _object_visible(level: str | None, export: IntelExport, token: PartnerToken) -> bool:
    if level is None:
        return True  # unmarked inside our bundle: the bundle's marking (checked) governs it
    if level == "red" or _level(level) > _level(token.collection.max_tlp):
        return False
    return level != "amber+strict" or _same_partner(export.recipient, token.partner)


def readable_objects(token: PartnerToken) -> list[ServedObject]:
    """Every object this partner may read in its collection, oldest first, one per version."""
    exports = db.session.scalars(
        select(IntelExport)
        .where(IntelExport.collection_id == token.collection_id)
        .order_by(IntelExport.published_at, IntelExport.id)
    )
    served: dict[tuple[str, str], ServedObject] = {}
    for export in exports:
        if not _export_visible(export, token):
            continue
        objects = json.loads(stored_bundle(export.sha256))["objects"]
        declared = stix.declared_tlp_ids(objects)
        for obj in objects:
            level = stix.object_tlp(obj, declared)
            if obj.get("type") == "marking-definition":
                level = declared.get(obj["id"], level)  # a RED definition is itself RED
            if not _object_visible(level, export, token):
                continue
            item = ServedObject(obj=obj, date_added=export.published_at, export_id=export.id)
            served.setdefault((obj["id"], item.version), item)
    return sorted(served.values(), key=lambda s: (s.date_added, s.obj["id"], s.version))


@dataclass(frozen=True)
class Filters:
    added_after: datetime | None = None
    types: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()  # "all", "first", "last" or timestamps; default last
    limit: int = MAX_PAGE
    next: int = 0


def parse_filters(args: dict[str, str]) -> Filters:
    """TAXII query parameters: added_after, limit, next, match[type|id|version]."""

    def split(name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in (args.get(name) or "").split(",") if v.strip())

    limit = MAX_PAGE
    if args.get("limit"):
        try:
            limit = int(args["limit"])
        except ValueError:
            raise InvalidInput("limit must be a positive integer") from None
        if limit < 1:
            raise InvalidInput("limit must be a positive integer")
    offset = 0
    if args.get("next"):
        try:
            offset = int(base64.urlsafe_b64decode(args["next"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("next is not a value this server gave") from None
    return Filters(
        added_after=parse_taxii_time(args["added_after"]) if args.get("added_after") else None,
        types=split("match[type]"),
        ids=split("match[id]"),
        versions=split("match[version]"),
        limit=min(limit, MAX_PAGE),
        next=max(offset, 0),
    )


def _select_versions(items: list[ServedObject], versions: tuple[str, ...]) -> list[ServedObject]:
    wanted = versions or ("last",)
    if "all" in wanted:
        return items
    by_id: dict[str, list[ServedObject]] = {}
    for item in items:
        by_id.setdefault(item.obj["id"], []).append(item)
    keep: set[tuple[str, str]] = set()
    for object_id, group in by_id.items():
        ordered = sorted(group, key=lambda s: s.version)
        if "last" in wanted:
            keep.add((object_id, ordered[-1].version))
        if "first" in wanted:
            keep.add((object_id, ordered[0].version))
        keep |= {(object_id, s.version) for s in group if s.version in wanted}
    return [s for s in items if (s.obj["id"], s.version) in keep]


@dataclass
class Page:
    items: list[ServedObject]
    more: bool
    next: str | None


def filtered_page(token: PartnerToken, filters: Filters, object_id: str | None = None) -> Page:
    """One page of what the partner may read, filtered as TAXII asks."""
    items = readable_objects(token)
    if object_id is not None:
        items = [s for s in items if s.obj["id"] == object_id]
    if filters.added_after is not None:
        items = [s for s in items if s.date_added > filters.added_after]
    if filters.types:
        items = [s for s in items if s.obj.get("type") in filters.types]
    if filters.ids:
        items = [s for s in items if s.obj["id"] in filters.ids]
    items = _select_versions(items, filters.versions)
    window = items[filters.next : filters.next + filters.limit]
    end = filters.next + len(window)
    more = end < len(items)
    token_next = base64.urlsafe_b64encode(str(end).encode()).decode() if more else None
    return Page(items=window, more=more, next=token_next)


def audit_read(
    token: PartnerToken, endpoint: str, *, served: list[ServedObject] | None = None, **details: Any
) -> None:
    """Every read by a partner is one audit event: who, which collection, what was served."""
    payload: dict[str, Any] = {
        "endpoint": endpoint,
        "partner": token.partner,
        "token_prefix": token.prefix,
        "collection": token.collection.taxii_id,
        **{k: v for k, v in details.items() if v not in (None, "", ())},
    }
    if served is not None:
        payload["objects"] = len(served)
        payload["exports"] = sorted({s.export_id for s in served})
    record(
        "taxii.read",
        actor=partner_actor(token),
        object_type="taxii_collection",
        object_id=token.collection_id,
        details=payload,
    )
