"""What identifies a packet's build: the template version, and the JSON manifest embedded in
every packet with the original evidence files it may carry.

`packet verify` reads the manifest back (`packets.signing.embedded_manifest`).
"""

from __future__ import annotations

import json
from typing import Any

from compliance.packets.context.facts import ExhibitFile, Gathered

TEMPLATE_VERSION = "2026.2"
MANIFEST_NAME = "packet-manifest.json"


def embedded_files(context: dict[str, Any], g: Gathered) -> list[ExhibitFile]:
    """Original evidence files embedded in the PDF: the reproduced exhibits' files, if allowed."""
    embedded = {(e.key, f.sha256) for e in context["exhibits"] for f in e.files if f.embedded}
    return [f for e in g.evidence for f in e.files if (e.key, f.sha256) in embedded and f.data]


def manifest(g: Gathered, context: dict[str, Any], inputs_sha256: str) -> bytes:
    """The JSON manifest embedded in every packet (stable bytes: sorted keys, fixed dates)."""
    body = {
        "schema": "compliance-packet-manifest/v2",
        "packet_id": g.packet_id,
        "case": g.case["ref"],
        "type": g.packet_type,
        "basis": context["doc"]["basis"],
        "draft": g.draft,
        "template_version": TEMPLATE_VERSION,
        "built_at": g.built_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bates": (
            None
            if g.bates_first is None
            else {"prefix": g.bates_prefix, "first": g.bates_first, "last": g.bates_last}
        ),
        "composition": g.composition.stored(),
        "inputs_sha256": inputs_sha256,
        "exhibits": [
            {
                "number": e.number,
                "key": e.key,
                "sha256": e.sha256,
                "reproduction": e.reproduction,
                "files": [{"name": f.name, "sha256": f.sha256} for f in e.files],
            }
            for e in context["exhibits"]
        ],
        "embedded_files": [
            {"name": f.name, "sha256": f.sha256} for f in embedded_files(context, g)
        ],
    }
    return json.dumps(body, sort_keys=True, indent=2).encode()
