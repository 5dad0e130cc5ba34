"""A packet is addressed from the recipients directory, which notices keep and hooks connect."""

from __future__ import annotations

import pytest

from compliance.notices.operations import create_recipient
from compliance.packets import operations
from compliance.packets.operations import addressing


def test_a_composition_takes_its_recipient_from_the_directory(app, make_case, actor_for):
    hub = create_recipient(
        actor_for("admin"),
        {"name": "Modelhaven", "kind": "hosting_platform", "jurisdiction": "US",
         "email": "abuse@modelhaven.example", "in_sharing_community": True},
    )  # fmt: skip
    packet = operations.request_packet(
        make_case(), "takedown", actor_for("counsel"), fields={"recipient_id": hub.id}
    )
    assert packet.request_fields["recipient"] == "Modelhaven"
    assert packet.request_fields["recipient_in_community"] is True


def test_without_the_directory_connected_a_packet_is_not_composed(
    app, make_case, actor_for, monkeypatch
):
    """Packets do not know the directory: unwired, they refuse rather than leave a packet
    unaddressed and its TLP:AMBER check unmade."""
    monkeypatch.setattr(addressing, "composition_addressers", [])
    with pytest.raises(RuntimeError, match="register_hooks"):
        operations.request_packet(make_case(), "memo", actor_for("counsel"))
