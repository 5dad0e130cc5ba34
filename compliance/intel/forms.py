"""Forms for intel sharing: receiving a bundle, and counsel's export choices."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
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


class CollectionForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    community = StringField("Sharing community", validators=[DataRequired(), Length(max=300)])
    max_tlp = SelectField(
        "Serves up to", choices=[c for c in TLP_CHOICES if c[0] != "red"], default="amber"
    )
    description = TextAreaField("Description", validators=[Length(max=2000)])


class PartnerTokenForm(FlaskForm):
    partner = StringField("Partner lab", validators=[DataRequired(), Length(max=300)])
    collection = SelectField("Collection", choices=[])


class FeedForm(FlaskForm):
    partner = StringField("Partner lab", validators=[DataRequired(), Length(max=300)])
    url = StringField("Their TAXII 2.1 API root URL", validators=[DataRequired(), Length(max=500)])
    collection = StringField("Their collection id", validators=[DataRequired(), Length(max=100)])
    username = StringField("User name (HTTP Basic only)", validators=[Length(max=200)])
    secret = PasswordField("Token or password", validators=[DataRequired()])


class PublishForm(FlaskForm):
    collection = SelectField("Collection", choices=[])


class PushForm(FlaskForm):
    feed = SelectField("Partner collection", coerce=int, choices=[])
