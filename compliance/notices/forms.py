"""Forms: a directory entry, sending a packet, a notice's steps, identifiers, referral details."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from compliance.notices.models import OUTCOMES, RECIPIENT_KINDS, REFERRAL_STATUSES
from compliance.notices.operations import RECIPIENT_FIELDS
from compliance.packets.composition import BASES
from compliance.packets.models import CHANNELS


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RecipientForm(FlaskForm):
    name = StringField("Legal name", validators=[DataRequired(), Length(max=300)])
    kind = SelectField("Kind", choices=list(RECIPIENT_KINDS.items()))
    jurisdiction = StringField(
        "Jurisdiction (ISO country code)", validators=[DataRequired(), Length(max=2)]
    )
    subdivision = StringField("Subdivision (optional)", validators=[Optional(), Length(max=10)])
    email = StringField("Notice e-mail", validators=[Optional(), Length(max=254)])
    web_form_url = StringField("Web form URL", validators=[Optional(), Length(max=500)])
    postal_address = TextAreaField("Postal address", validators=[Optional(), Length(max=2000)])
    agent_name = StringField("Designated agent", validators=[Optional(), Length(max=300)])
    agent_registration = StringField(
        "Agent registration number", validators=[Optional(), Length(max=100)]
    )
    accepted_bases = MultiCheckboxField("Notice bases accepted", choices=list(BASES.items()))
    in_sharing_community = BooleanField("Inside our intel-sharing community (TLP:AMBER)")
    response_days = IntegerField(
        "Expected response (business days)", default=10, validators=[NumberRange(0, 365)]
    )
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    active = BooleanField("Active (offered when addressing packets)", default=True)

    def fields(self) -> dict:
        return {name: getattr(self, name).data for name in RECIPIENT_FIELDS}


class SendForm(FlaskForm):
    """Recording that a final packet went out: it becomes a notice."""

    recipient_id = SelectField("Recipient (directory)", coerce=str, validators=[Optional()])
    recipient = StringField(
        "…or a one-off recipient (free text)", validators=[Optional(), Length(max=300)]
    )
    channel = SelectField("Channel", choices=[(c, c.replace("_", " ")) for c in CHANNELS])
    sent_on = DateField("Date sent", validators=[DataRequired()])
    their_reference = StringField(
        "Their ticket or reference", validators=[Optional(), Length(max=200)]
    )
    proof = FileField("Proof of sending (confirmation e-mail, web-form receipt)")


class NoticeStepForm(FlaskForm):
    """One move of a notice; the fields shown depend on the move."""

    target = StringField(validators=[DataRequired()])
    occurred_on = DateField("Date", validators=[Optional()])
    outcome = SelectField("Outcome", choices=[("", "—"), *OUTCOMES.items()], validate_choice=False)
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=5000)])
    note = TextAreaField("Note", validators=[Optional(), Length(max=5000)])
    their_reference = StringField(
        "Their ticket or reference", validators=[Optional(), Length(max=200)]
    )
    response = FileField("Their answer (stored as evidence)")


class ResponseForm(FlaskForm):
    occurred_on = DateField("Date", validators=[Optional()])
    note = TextAreaField("What they answered", validators=[Optional(), Length(max=5000)])
    response = FileField("Their answer (stored as evidence)")


class IdentifiersForm(FlaskForm):
    identifiers = TextAreaField(
        "One per line: kind value (kinds: url, repository, file_sha256, model_name)",
        validators=[Optional(), Length(max=50000)],
    )
    note = StringField("Why", validators=[Optional(), Length(max=500)])


class ReferralForm(FlaskForm):
    agency_case_number = StringField("Agency case number", validators=[Optional(), Length(max=100)])
    assigned_agent = StringField("Assigned agent", validators=[Optional(), Length(max=200)])
    referral_status = SelectField("Status", choices=list(REFERRAL_STATUSES.items()))


class InformationRequestForm(FlaskForm):
    received_on = DateField("Received on", validators=[DataRequired()])
    due_on = DateField("Answer due by (optional)", validators=[Optional()])
    request = TextAreaField("What the agency asks for", validators=[DataRequired()])


class AnswerForm(FlaskForm):
    packet_id = SelectField("Answered by packet", coerce=str, validators=[DataRequired()])
