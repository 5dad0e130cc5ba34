"""Forms for intel sharing: receiving a bundle, and counsel's export choices."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

TLP_CHOICES = [
    ("clear", "TLP:CLEAR — may be published"),
    ("green", "TLP:GREEN — the forum's community"),
    ("amber", "TLP:AMBER — recipients' organisations and clients"),
    ("amber+strict", "TLP:AMBER+STRICT — recipients' organisations only"),
    ("red", "TLP:RED — named recipients only"),
]


class ImportForm(FlaskForm):
    file = FileField("STIX 2.1 bundle (JSON)", validators=[FileRequired("choose a bundle file")])
    source = StringField("Sent by (lab name)", validators=[DataRequired(), Length(max=300)])


class ExportForm(FlaskForm):
    recipient = StringField("Recipient", validators=[DataRequired(), Length(max=300)])
    tlp = SelectField("TLP", choices=TLP_CHOICES, default="amber")
    subjects = SelectMultipleField("Subjects to share", coerce=int, validators=[Optional()])
    findings = SelectMultipleField("Findings to summarise", coerce=int, validators=[Optional()])
    note = TextAreaField("Note to recipients", validators=[Length(max=2000)])
    # Set by the preview, posted back on confirmation: the bundle is rebuilt identically.
    nonce = HiddenField()
    prepared_at = HiddenField()
    sha256 = HiddenField()
