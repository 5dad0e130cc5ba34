"""Forms for citing a clause against a case, withdrawing a citation, and syncing the library."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class CitationForm(FlaskForm):
    clause_id = SelectField("Clause", coerce=int, validators=[DataRequired()])
    note = TextAreaField(
        "How the conduct breaks this clause", validators=[DataRequired(), Length(max=10_000)]
    )
    evidence_item_id = SelectField("Evidence item (optional)", coerce=int, validators=[Optional()])
    override = BooleanField("Cite a version that was not in force during the incident window")
    override_reason = TextAreaField("Reason for the override", validators=[Length(max=5000)])


class WithdrawCitationForm(FlaskForm):
    reason = TextAreaField("Why withdraw it", validators=[DataRequired(), Length(max=5000)])


class SyncForm(FlaskForm):
    """Only the CSRF token: the folder synced is the server's, never the browser's choice."""
