"""Forms for evidence: the upload on the case page, downloads, duplicate decisions."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class UploadForm(FlaskForm):
    file = FileField("File", validators=[FileRequired("choose a file")])
    is_finding = BooleanField(
        "This is a detector finding file (JSON, schema distillation-finding/v1)"
    )
    description = TextAreaField(
        "Description (what the file is, where it came from)", validators=[Length(max=5000)]
    )
    # A number, not a list of every item: a case may hold thousands of items.
    supersedes = IntegerField(
        "Corrects an earlier item (its #)", validators=[Optional(), NumberRange(min=1)]
    )
    reason = StringField("Reason for the correction", validators=[Length(max=2000)])


class DownloadForm(FlaskForm):
    purpose = StringField("Purpose", validators=[DataRequired(), Length(max=500)])


class DuplicateForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[("merge", "Same campaign: merge"), ("distinct", "Different campaigns")],
        validators=[DataRequired()],
    )
    note = StringField("Why", validators=[DataRequired(), Length(max=2000)])
