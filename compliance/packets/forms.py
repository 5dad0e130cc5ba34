"""Forms for requesting a packet and recording that it was sent."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from compliance.packets.context import REQUEST_FIELDS
from compliance.packets.models import CHANNELS, PACKET_TYPES

_TEXT = [Optional(), Length(max=4000)]


class PacketRequestForm(FlaskForm):
    packet_type = SelectField("Packet type", choices=[(t, t.title()) for t in PACKET_TYPES])
    draft = BooleanField("Draft (watermarked, no Bates numbers, can never be sent)")
    recipient = StringField("Recipient (platform or agency)", validators=_TEXT)
    recipient_contact = StringField("Recipient's notice address", validators=_TEXT)
    offending_url = StringField("Offending model URL (https://…)", validators=_TEXT)
    repository = StringField("Repository", validators=_TEXT)
    files = TextAreaField("Offending files (one per line)", validators=_TEXT)
    uploader = StringField("Uploader's user name", validators=_TEXT)
    relationship = StringField("Our relationship to the rights holder", validators=_TEXT)
    basis = TextAreaField("Additional basis for the complaint", validators=_TEXT)
    copyright_claim = TextAreaField(
        "Copyright claim (only if counsel relies on it)", validators=_TEXT
    )
    remedy = TextAreaField("Remedy sought", validators=_TEXT)
    narrative = TextAreaField("Narrative / assessment", validators=_TEXT)
    protective_measures = TextAreaField("Further protective measures in force", validators=_TEXT)
    estimated_value = StringField("Estimated value", validators=_TEXT)
    contact_name = StringField("Point of contact", validators=_TEXT)
    contact_email = StringField("Point of contact e-mail", validators=_TEXT)

    def request_fields(self) -> dict[str, str]:
        return {name: getattr(self, name).data or "" for name in REQUEST_FIELDS}


class MarkSentForm(FlaskForm):
    recipient = StringField("Sent to", validators=[DataRequired(), Length(max=300)])
    channel = SelectField("Channel", choices=[(c, c.replace("_", " ")) for c in CHANNELS])
    sent_on = DateField("Date sent", validators=[DataRequired()])
