"""Forms of the re-upload watch: an analyst's identifier check, closing a repeat flag."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from compliance.notices.models import IDENTIFIER_KINDS


class CheckIdentifierForm(FlaskForm):
    kind = SelectField("Kind", choices=list(IDENTIFIER_KINDS.items()), validators=[DataRequired()])
    value = StringField("Identifier", validators=[DataRequired(), Length(max=500)])
    where_seen = TextAreaField(
        "Where you saw it (optional)", validators=[Optional(), Length(max=2000)]
    )


class CloseRepeatForm(FlaskForm):
    status = SelectField(
        "Outcome",
        choices=[("followed_up", "Followed up (a new notice)"), ("dismissed", "Dismissed")],
        validators=[DataRequired()],
    )
    note = TextAreaField("Note (a dismissal needs a reason)", validators=[Length(max=2000)])
