"""Addressing a composition: the recipient's name, contact and sharing-community membership.

The recipients directory belongs to notices, which sit above packets (a notice is a sent
packet, followed up), so packets do not read it themselves: the directory registers its
answer in `composition_addressers` (wired by `compliance.hooks.register_hooks`).
"""

from __future__ import annotations

from collections.abc import Callable

from compliance.packets.composition import Composition

# Fills a composition from its directory recipient (notices.operations.address_composition):
# the name and contact when left empty, and whether the recipient is inside the sharing
# community, which the TLP:AMBER check relies on.
composition_addressers: list[Callable[[Composition], Composition]] = []


def _addressed(composition: Composition) -> Composition:
    """A composition addressed to a directory recipient takes its name, contact and
    sharing-community membership (the TLP:AMBER check) from the directory."""
    if not composition_addressers:
        # Without the directory a packet would go out unaddressed and its AMBER check unmade.
        raise RuntimeError(
            "no recipients directory is connected to packets: call "
            "compliance.hooks.register_hooks() (create_app does) before composing a packet"
        )
    for address in composition_addressers:
        composition = address(composition)
    return composition
