"""Refusing to record a sent packet names the act that was refused, not another one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compliance.auth.permissions import PERMISSIONS
from compliance.errors import PermissionDenied
from compliance.notices.operations import mark_sent
from compliance.packets.models import Packet


def test_an_analyst_marking_a_packet_sent_is_told_what_was_refused(app, actor_for):
    with pytest.raises(PermissionDenied) as refused:
        mark_sent(
            Packet(),
            actor_for("analyst"),
            recipient="Model hub trust & safety",
            channel="web_form",
            sent_on=datetime.now(UTC),
        )
    assert refused.value.message == "analyst may not packet.send"
    assert PERMISSIONS["packet.send"] == PERMISSIONS["packet.build"] == frozenset({"counsel"})
