"""The review form on the case page."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from compliance.reviews.models import OUTCOME_LABELS


class ReviewForm(FlaskForm):
    kind = HiddenField(default="case", validators=[DataRequired()])
    # Issued with each rendered form; a double submit posts the same token twice.
    form_token = HiddenField(validators=[DataRequired(), Length(max=64)])
    outcome = SelectField(
        "Outcome", choices=list(OUTCOME_LABELS.items()), validators=[DataRequired()]
    )
    notes = TextAreaField("Notes (Markdown)", validators=[Length(max=50_000)])
    next_review_on = DateField(
        "Next review (may be brought forward, not later than the cadence)",
        validators=[Optional()],
    )

    @classmethod
    def fresh(cls, kind: str = "case") -> ReviewForm:
        form = cls(formdata=None)
        form.kind.data = kind
        form.form_token.data = secrets.token_urlsafe(24)
        return form
