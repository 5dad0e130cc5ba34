from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from compliance.auth.models import ROLES, TOKEN_SCOPES


class LoginForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Email(check_deliverability=False)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me signed in on this computer")


class SecondFactorForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app (or a recovery code)",
        validators=[DataRequired(), Length(max=40)],
    )


class UserForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Email(check_deliverability=False)])
    name = StringField("Printed name", validators=[DataRequired(), Length(max=200)])
    role = SelectField("Role", choices=[(r, r.title()) for r in ROLES])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=12, max=1024)])
    confirm = PasswordField(
        "The same again", validators=[DataRequired(), EqualTo("password", "not the same")]
    )


class EnrolForm(FlaskForm):
    code = StringField(
        "The 6-digit code your app shows", validators=[DataRequired(), Length(max=12)]
    )


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    scopes = SelectMultipleField(
        "Scopes", choices=[(s, s) for s in TOKEN_SCOPES], validators=[DataRequired()]
    )
