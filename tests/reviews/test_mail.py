"""E-mail: sent over SMTP when configured; otherwise kept in the outbox, never lost."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from compliance.audit.models import AuditEvent
from compliance.extensions import db
from compliance.reviews import tasks
from compliance.reviews.models import OutboxEmail
from tests.reviews.conftest import T0


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(app):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    yield inbox
    controller.stop()


@pytest.fixture
def overdue_review(app, clock, owned_case):
    """A triage case whose review is an hour overdue, its owner told in-app and by e-mail."""
    case, owner = owned_case("triage")
    clock.move_to(T0 + timedelta(days=3, hours=1))
    tasks.run_due_pass()
    return case, owner


def _emails() -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


def test_without_smtp_emails_wait_in_the_outbox_for_an_admin(app, overdue_review, login_as):
    case, owner = overdue_review
    assert tasks.send_outbox() == {"smtp": "not configured", "waiting": 1}
    [email] = _emails()
    assert (email.recipient, email.status, email.attempts) == (owner.email, "queued", 0)
    assert case.ref in email.subject and f"/cases/{case.ref}?tab=reviews" in email.body

    _, admin = login_as("admin")
    page = admin.get("/admin/outbox")
    assert page.status_code == 200
    assert owner.email.encode() in page.data and b"SMTP is not configured" in page.data
    _, analyst = login_as("analyst")
    assert analyst.get("/admin/outbox").status_code == 403


def test_with_smtp_each_email_is_sent_once(app, overdue_review, smtp_server):
    case, owner = overdue_review
    assert tasks.send_outbox() == {"sent": 1, "failed_attempts": 0}
    assert tasks.send_outbox() == {"sent": 0, "failed_attempts": 0}

    [(sender, recipients, content)] = smtp_server.messages
    assert recipients == [owner.email] and sender == app.config["SMTP_SENDER"]
    assert f"Review overdue: {case.ref}" in content
    [email] = _emails()
    assert email.status == "sent" and email.sent_at is not None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "email.sent"))


def test_a_failing_smtp_server_is_retried_then_given_up_on(app, overdue_review, clock):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port())  # nobody listens
    now = T0 + timedelta(days=3, hours=1)
    for attempt in range(1, 6):
        assert tasks.send_outbox(now)["failed_attempts"] == 1
        [email] = _emails()
        assert email.attempts == attempt and "ConnectionRefusedError" in email.last_error
        assert tasks.send_outbox(now)["failed_attempts"] == 0  # backing off until later
        now = email.next_attempt_at
    assert email.status == "failed"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "email.failed"))
