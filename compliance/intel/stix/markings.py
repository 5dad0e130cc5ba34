"""TLP 2.0 markings in STIX: the official marking definitions, reading a TLP level typed by a
person, and which marking governs a received object.

A received value is governed by the most restrictive TLP marking that covers it, whether the
marking sits on the whole object (`object_marking_refs`) or on one property
(`granular_markings`).
"""

from __future__ import annotations

from typing import Any

import stix2

from compliance.errors import InvalidInput

# TLP 2.0 as published by OASIS (cti-stix-common-objects, extension-definition-specifications/
# tlp-2.0): fixed marking-definition ids and the extension that carries the level.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
# Bundles from labs still on TLP 1.0 (the markings stix2 predefines) are read as their 2.0 level.
TLP1_IDS = {
    stix2.TLP_WHITE.id: "clear",
    stix2.TLP_GREEN.id: "green",
    stix2.TLP_AMBER.id: "amber",
    stix2.TLP_RED.id: "red",
}
KNOWN_TLP_IDS = {**{v: k for k, v in TLP2_IDS.items()}, **TLP1_IDS}


def tlp_marking(level: str) -> stix2.MarkingDefinition:
    """The official TLP 2.0 marking definition for `level` (clear ... red)."""
    if level not in TLP2_IDS:
        raise InvalidInput(f"unknown TLP level {level!r}: one of {', '.join(TLP_ORDER)}")
    return stix2.MarkingDefinition(
        id=TLP2_IDS[level],
        created="2022-10-01T00:00:00.000Z",
        name=f"TLP:{level.upper()}",
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    )


def parse_tlp(value: str) -> str:
    """'AMBER+STRICT', 'tlp:amber+strict', 'amber_strict', 'white' -> the TLP 2.0 level name."""
    level = (value or "").strip().lower().removeprefix("tlp:").replace("_", "+").replace(" ", "")
    level = {"white": "clear", "amberstrict": "amber+strict"}.get(level, level)
    if level not in TLP2_IDS:
        raise InvalidInput(
            f"unknown TLP level {value!r}: one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED",
            details={"tlp": "unknown level"},
        )
    return level


def _strictest(levels: set[str]) -> str:
    return max(levels, key=TLP_ORDER.index)


def strictest(levels: list[str] | set[str]) -> str | None:
    """The most restrictive of these TLP levels (None for none)."""
    return _strictest(set(levels)) if levels else None


def declared_tlp_ids(raw_objects: list[dict[str, Any]]) -> dict[str, str]:
    """Marking-definition id -> TLP level: the standard ones, plus those the bundle declares."""
    declared = dict(KNOWN_TLP_IDS)
    for obj in raw_objects:
        if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
            continue
        extensions = obj.get("extensions") if isinstance(obj.get("extensions"), dict) else {}
        tlp2 = extensions.get(TLP2_EXTENSION) if isinstance(extensions, dict) else None
        level = tlp2.get("tlp_2_0") if isinstance(tlp2, dict) else None
        if isinstance(level, str) and level.lower() in TLP2_IDS:
            declared[str(obj.get("id"))] = level.lower()
        definition = obj.get("definition") if isinstance(obj.get("definition"), dict) else {}
        tlp1 = definition.get("tlp") if obj.get("definition_type") else None
        if isinstance(tlp1, str) and tlp1.lower() in ("white", "green", "amber", "red"):
            declared[str(obj.get("id"))] = {"white": "clear"}.get(tlp1.lower(), tlp1.lower())
    return declared


def marking_refs(obj: dict[str, Any]) -> list[str]:
    """Every marking an object carries: on the whole object and on any of its properties."""
    refs = [r for r in obj.get("object_marking_refs") or [] if isinstance(r, str)]
    for granular in obj.get("granular_markings") or []:
        if isinstance(granular, dict) and isinstance(granular.get("marking_ref"), str):
            refs.append(granular["marking_ref"])
    return refs


def object_tlp(obj: dict[str, Any], declared: dict[str, str]) -> str | None:
    """The most restrictive TLP covering any value of `obj` (object or granular), or None."""
    return strictest({declared[r] for r in marking_refs(obj) if r in declared})


def bundle_tlp(raw_objects: list[dict[str, Any]], unmarked_policy: str) -> tuple[str, bool]:
    """The strictest TLP any object or property carries; with none, the configured policy.

    A kept bundle is one evidence file, so its effective TLP is the most restrictive marking
    anywhere in it. Returns (level, assumed): assumed when the bundle was unmarked.
    """
    declared = declared_tlp_ids(raw_objects)
    # Marking definitions count too: a RED marking marked RED is still RED (the strictest wins).
    levels = {level for obj in raw_objects if (level := object_tlp(obj, declared)) is not None}
    if levels:
        return _strictest(levels), False
    if unmarked_policy == "amber+strict":
        return "amber+strict", True
    message = (
        "the bundle carries no TLP marking: ask the sender to mark it (TLP 2.0), "
        "or configure INTEL_UNMARKED_POLICY = 'amber+strict' to accept it as AMBER+STRICT"
    )
    raise InvalidInput(message, details={"tlp": message})
