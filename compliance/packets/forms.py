"""Forms: composing a packet, recording that it was sent, a signatory profile."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from compliance.packets.composition import PARTIES

_TEXT = [Optional(), Length(max=20000)]
_LINE = [Optional(), Length(max=1000)]

# Which composition fields the form shows for each packet type and takedown basis.
FIELDS_SHOWN = {
    ("takedown", "terms"): (
        "recipient",
        "recipient_contact",
        "offending_urls",
        "repository",
        "files",
        "uploader",
        "narrative",
        "remedy",
    ),
    ("takedown", "copyright"): (
        "recipient",
        "recipient_contact",
        "copyrighted_work",
        "offending_urls",
        "repository",
        "files",
        "uploader",
        "narrative",
    ),
    ("takedown", "dsa"): (
        "recipient",
        "recipient_contact",
        "narrative",
        "offending_urls",
        "files",
        "uploader",
    ),
    ("referral", None): (
        "recipient",
        "agency_contact",
        "recipient_contact",
        "narrative",
        "protective_measures",
        "estimated_value",
        "custodian",
    ),
    ("memo", None): ("recipient", "narrative"),
}
LIST_FIELDS = ("offending_urls", "files")


class ComposeForm(FlaskForm):
    # A directory entry (compliance.notices); choices are set by the view. Checked by the
    # operation (an entry that exists), not against the offered list.
    recipient_id = SelectField("Recipient from the directory", choices=[], validate_choice=False)
    recipient = StringField("Recipient", validators=_LINE)
    recipient_contact = StringField("Recipient's notice address or designated agent", _LINE)
    recipient_in_community = BooleanField(
        "I confirm the recipient is inside our intel-sharing community (TLP:AMBER material "
        "may go to it)"
    )
    agency_contact = StringField("Addressed to (name and title at the agency)", _LINE)
    narrative = TextAreaField("Narrative", validators=_TEXT)
    offending_urls = TextAreaField("Offending URLs (https://…, one per line)", validators=_TEXT)
    repository = StringField("Repository", validators=_LINE)
    files = TextAreaField("Offending files (one per line)", validators=_TEXT)
    uploader = StringField("Uploader's user name", validators=_LINE)
    copyrighted_work = TextAreaField("The copyrighted work", validators=_TEXT)
    remedy = TextAreaField("Remedy sought", validators=_TEXT)
    estimated_value = StringField("Estimated value", validators=_LINE)
    protective_measures = TextAreaField("Further protective measures in force", _TEXT)
    # Checked by the operation (a custodian profile that exists), not against the offered list.
    custodian = SelectField(
        "Records custodian who certifies the exhibits", choices=[], validate_choice=False
    )

    def fill(self, composition: dict[str, Any]) -> None:
        """Show a stored composition (editing a preview's choices)."""
        for name in (*FIELDS_SHOWN[("referral", None)], *FIELDS_SHOWN[("takedown", "terms")]):
            field = getattr(self, name, None)
            value = composition.get(name)
            if field is not None and value is not None:
                field.data = "\n".join(value) if name in LIST_FIELDS else value
        for name in ("copyrighted_work", "recipient_in_community"):
            if name in composition:
                getattr(self, name).data = composition[name]
        if composition.get("recipient_id"):
            self.recipient_id.data = str(composition["recipient_id"])

    def composition(
        self, packet_type: str, basis: str | None, form: MultiDict, shown: dict[str, Any]
    ) -> dict[str, Any]:
        """The composition this submission describes; `shown` lists the choices offered."""
        fields: dict[str, Any] = {"basis": basis} if basis else {}
        for name in FIELDS_SHOWN[(packet_type, basis)]:
            value = getattr(self, name).data or ""
            fields[name] = value.splitlines() if name in LIST_FIELDS else value
        directory = (self.recipient_id.data or "").strip()
        if packet_type != "memo" and directory:
            # The directory says whether it is inside the sharing community (TLP:AMBER).
            fields["recipient_id"] = int(directory) if directory.isdigit() else directory
        elif shown["amber"]:
            fields["recipient_in_community"] = self.recipient_in_community.data
        chosen = form.getlist("exhibit")
        if sorted(chosen) != sorted(shown["eligible"]):
            fields["exhibits"] = chosen
        kept = set(form.getlist("entry"))
        fields["chronology_excluded"] = [k for k in shown["entries"] if k not in kept]
        fields["chronology_internal"] = {
            key: form.get(f"wording-{key}", "") for key in form.getlist("step")
        }
        parties = dict(shown.get("parties") or {})
        for index, key in enumerate(form.getlist("identifier")):
            party = form.get(f"party-{index}")
            if party in PARTIES and party != form.get(f"default-{index}"):
                parties[key] = party
        fields["parties"] = parties
        return {k: v for k, v in fields.items() if v not in ("", [], {}, None)}


class SignatoryForm(FlaskForm):
    full_name = StringField("Full name as signed", validators=[DataRequired(), Length(max=200)])
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    organisation = StringField("Organisation", validators=[DataRequired(), Length(max=200)])
    postal_address = TextAreaField("Postal address", validators=[DataRequired(), Length(max=1000)])
    phone = StringField("Telephone", validators=[DataRequired(), Length(max=50)])
    email = StringField("E-mail printed on packets", validators=[DataRequired(), Length(max=254)])
    bar_admission = StringField("Bar admission (optional)", validators=_LINE)
    records_custodian = BooleanField(
        "I am a custodian of the lab's evidence records, or otherwise qualified to certify them "
        "(FRE 902(11)/(14))"
    )
    custodian_qualification = TextAreaField("How you are qualified", validators=_TEXT)
