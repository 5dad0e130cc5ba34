"""Forms for cases: the fields users type, with inline validation."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from compliance.cases.models import ACTIONS, DOMAINS, SEVERITIES


class CaseForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=300)])
    summary = TextAreaField("Summary (Markdown)", validators=[Length(max=50_000)])
    severity = SelectField("Severity", choices=[(s, s.title()) for s in SEVERITIES])
    confidence = DecimalField(
        "Confidence (0–1)", places=2, validators=[Optional(), NumberRange(min=0, max=1)]
    )
    suspected_actor = StringField("Suspected actor", validators=[Optional(), Length(max=300)])
    jurisdiction = StringField("Jurisdiction", validators=[Optional(), Length(max=200)])
    owner_id = SelectField("Owner", coerce=int, validators=[Optional()])
    incident_start = DateTimeLocalField(
        "Incident window start (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    incident_end = DateTimeLocalField(
        "Incident window end (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    estimated_queries = IntegerField(
        "Estimated query volume", validators=[Optional(), NumberRange(min=0)]
    )
    targeted_domains = SelectMultipleField(
        "Targeted domains", choices=[(d, d.replace("_", " ")) for d in DOMAINS]
    )
    version = HiddenField()


class TransitionForm(FlaskForm):
    target = HiddenField(validators=[DataRequired()])
    version = HiddenField()
    reason = TextAreaField("Reason", validators=[Length(max=5000)])
    outcome = TextAreaField("Outcome", validators=[Length(max=5000)])
    actions = SelectMultipleField("Actions approved", choices=[(a, a.title()) for a in ACTIONS])


class NoteForm(FlaskForm):
    body = TextAreaField("Note (Markdown)", validators=[DataRequired(), Length(max=50_000)])
    privileged = BooleanField("Attorney-client privileged (counsel only)")


class HoldForm(FlaskForm):
    # What the person asked for, as the page showed it: a stale page must not toggle the hold.
    action = HiddenField(validators=[AnyOf(("place", "release"))])
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=5000)])
