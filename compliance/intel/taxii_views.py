"""TAXII 2.1 server (read-only): discovery, one API root, collections, objects, manifest, status.

Partners authenticate with their token as `Authorization: Bearer <token>` (or HTTP Basic with
the token as the password, for clients that only speak Basic). Every read is audited.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, g, request, url_for

from compliance.errors import NotFound, OperationError, Unauthorized
from compliance.extensions import csrf, db
from compliance.intel import taxii_server
from compliance.intel.models import PartnerToken

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "intel"

bp = Blueprint("taxii", __name__, url_prefix="/taxii2")
csrf.exempt(bp)  # bearer tokens only; no cookie is ever accepted here


class NotAcceptable(OperationError):
    status = 406
    code = "not_acceptable"


def _respond(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None):
    response = Response(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@bp.errorhandler(OperationError)
def _error(error: OperationError):
    db.session.rollback()
    headers = {"WWW-Authenticate": 'Bearer realm="taxii"'} if error.status == 401 else None
    body = {
        "title": error.code.replace("_", " "),
        "description": error.message,
        "http_status": str(error.status),
    }
    return _respond(body, error.status, headers)


def _acceptable() -> bool:
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return True
    for part in accept.split(","):
        tokens = [t.strip().lower() for t in part.split(";")]
        if tokens[0] in ("*/*", "application/*"):
            return True
        if tokens[0] == "application/taxii+json":
            versions = [t for t in tokens[1:] if t.startswith("version=")]
            if not versions or "version=2.1" in versions:
                return True
    return False


def _partner() -> PartnerToken:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    secret = ""
    if scheme.lower() == "bearer":
        secret = value.strip()
    elif scheme.lower() == "basic":
        try:
            secret = base64.b64decode(value.strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            secret = ""
    token = taxii_server.partner_from_secret(secret) if secret else None
    if token is None:
        raise Unauthorized("send your partner token: 'Authorization: Bearer <token>'")
    return token


def taxii_require(view: Callable) -> Callable:
    """A partner's token (scoped to one collection), and a TAXII 2.1 Accept header."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g.partner = _partner()
        if not _acceptable():
            raise NotAcceptable(f"this server speaks {MEDIA_TYPE}")
        response = view(*args, **kwargs)
        db.session.commit()  # the read's audit event and the token's last use
        return response

    wrapped.taxii_partner = True  # the access-matrix test reads this
    return wrapped


def _collection(collection_id: str) -> Any:
    """The partner's own collection; any other id is unknown to them."""
    token: PartnerToken = g.partner
    if token.collection.taxii_id != collection_id:
        raise NotFound(f"no collection {collection_id}")
    return token.collection


def _collection_json(collection: Any) -> dict[str, Any]:
    return {
        "id": collection.taxii_id,
        "title": collection.title,
        "description": collection.description
        or f"{collection.community}: up to {collection.tlp_label}",
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA_TYPE],
    }


@bp.get("/")
@taxii_require
def discovery():
    root = url_for("taxii.api_root", _external=True)
    taxii_server.audit_read(g.partner, "discovery")
    return _respond(
        {
            "title": f"{current_app.config['INTEL_ORGANISATION']} intel sharing",
            "description": "Distillation-campaign indicators shared under TLP 2.0",
            "default": root,
            "api_roots": [root],
        }
    )


@bp.get(f"/{API_ROOT}/")
@taxii_require
def api_root():
    taxii_server.audit_read(g.partner, "api-root")
    return _respond(
        {
            "title": "Distillation intel",
            "description": "Collections per sharing community",
            "versions": [MEDIA_TYPE],
            "max_content_length": current_app.config["INTEL_MAX_BUNDLE_BYTES"],
        }
    )


@bp.get(f"/{API_ROOT}/collections/")
@taxii_require
def collections():
    taxii_server.audit_read(g.partner, "collections")
    return _respond({"collections": [_collection_json(g.partner.collection)]})


@bp.get(f"/{API_ROOT}/collections/<collection_id>/")
@taxii_require
def collection(collection_id: str):
    found = _collection(collection_id)
    taxii_server.audit_read(g.partner, "collection")
    return _respond(_collection_json(found))


def _page(object_id: str | None = None) -> tuple[taxii_server.Page, taxii_server.Filters]:
    filters = taxii_server.parse_filters(request.args.to_dict())
    return taxii_server.filtered_page(g.partner, filters, object_id=object_id), filters


def _date_headers(page: taxii_server.Page) -> dict[str, str]:
    if not page.items:
        return {}
    return {
        "X-TAXII-Date-Added-First": taxii_server.taxii_time(page.items[0].date_added),
        "X-TAXII-Date-Added-Last": taxii_server.taxii_time(page.items[-1].date_added),
    }


def _envelope(page: taxii_server.Page, objects: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if objects:
        body["objects"] = objects
    return body


def _audit_filters(filters: taxii_server.Filters) -> dict[str, Any]:
    return {
        "added_after": taxii_server.taxii_time(filters.added_after)
        if filters.added_after
        else None,
        "match_type": ",".join(filters.types),
        "match_id": ",".join(filters.ids),
        "offset": filters.next or None,
    }


@bp.get(f"/{API_ROOT}/collections/<collection_id>/objects/")
@taxii_require
def objects(collection_id: str):
    _collection(collection_id)
    page, filters = _page()
    taxii_server.audit_read(g.partner, "objects", served=page.items, **_audit_filters(filters))
    return _respond(_envelope(page, [s.obj for s in page.items]), headers=_date_headers(page))


@bp.get(f"/{API_ROOT}/collections/<collection_id>/objects/<object_id>/")
@taxii_require
def get_object(collection_id: str, object_id: str):
    _collection(collection_id)
    page, filters = _page(object_id)
    if not page.items and not filters.next:
        raise NotFound(f"no object {object_id} in this collection")
    taxii_server.audit_read(
        g.partner, "object", served=page.items, object_id=object_id, **_audit_filters(filters)
    )
    return _respond(_envelope(page, [s.obj for s in page.items]), headers=_date_headers(page))


@bp.get(f"/{API_ROOT}/collections/<collection_id>/manifest/")
@taxii_require
def manifest(collection_id: str):
    _collection(collection_id)
    page, filters = _page()
    taxii_server.audit_read(g.partner, "manifest", served=page.items, **_audit_filters(filters))
    records = [
        {
            "id": s.obj["id"],
            "date_added": taxii_server.taxii_time(s.date_added),
            "version": s.version,
            "media_type": STIX_MEDIA_TYPE,
        }
        for s in page.items
    ]
    return _respond(_envelope(page, records), headers=_date_headers(page))


@bp.get(f"/{API_ROOT}/status/<status_id>/")
@taxii_require
def status(status_id: str):
    # Collections here are read-only (can_write false): no add request ever has a status.
    taxii_server.audit_read(g.partner, "status", status_id=status_id)
    db.session.commit()
    raise NotFound(f"no status {status_id}: this server accepts no writes")
