"""Sending one e-mail over SMTP. Knows nothing of the database: the outbox job calls it."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any


def smtp_configured(config: dict[str, Any]) -> bool:
    return bool(config.get("SMTP_HOST"))


def send_email(config: dict[str, Any], to: str, subject: str, body: str) -> None:
    """Deliver one plain-text message; raises on any SMTP or network error."""
    message = EmailMessage()
    message["From"] = config["SMTP_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=30) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)
