from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, PasswordField, RadioField, SelectChoice, SelectField,
                     SelectMultipleField, StringField)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from crisisline.accounts.models import ReporterIdentity, Role
from crisisline.i18n import (CONTACT_LANGUAGE_LABELS, CREDENTIAL_LABELS, IDENTITY_LABELS,
                             ROLE_LABELS)
from crisisline.validation import NameRule


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class Checkboxes(SelectMultipleField):
    """Several choices as ticks."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class StaffForm(FlaskForm):
    """A staff member as the admin page edits them. Choices are checked by the service (which
    names what is wrong in the reader's language), not by WTForms."""

    display_name = StringField(_l("Name"), validators=[Length(max=120), NameRule()])
    role = SelectField(_l("Role"), validate_choice=False,
                       choices=[SelectChoice(r.value, ROLE_LABELS[r.value]) for r in Role])
    organisation = SelectField(_l("Organisation"), validate_choice=False, choices=[])
    unit = StringField(_l("Unit"), validators=[Length(max=400)])
    identity = SelectField(_l("Reporter identity"), validate_choice=False, choices=[
        SelectChoice("", _l("(not a school reporter)")),
        *(SelectChoice(i.value, IDENTITY_LABELS[i.value]) for i in ReporterIdentity)])
    phone = StringField(_l("Mobile phone"), validators=[Length(max=40)])
    languages = Checkboxes(_l("Contact languages"), validate_choice=False, default=["zh"],
                           choices=[SelectChoice(code, label)
                                    for code, label in CONTACT_LANGUAGE_LABELS.items()])
    team = SelectField(_l("Duty team"), validate_choice=False, choices=[])


class CreateStaffForm(StaffForm):
    username = StringField(_l("Username"), validators=[Length(max=80), NameRule()])
    credential = RadioField(_l("How they sign in first"), validate_choice=False,
                            default="link", choices=[SelectChoice(value, label) for
                                                     value, label in CREDENTIAL_LABELS.items()])


class ResetForm(FlaskForm):
    credential = RadioField(_l("How they sign in first"), validate_choice=False,
                            default="link", choices=[SelectChoice(value, label) for
                                                     value, label in CREDENTIAL_LABELS.items()])
    turn_off_two_factor = BooleanField(_l("Also turn off their two-factor sign-in (a lost "
                                          "phone)"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=[Length(max=256)])
    new_password_again = PasswordField(_l("New password again"),
                                       validators=[Length(max=256)])


class CodeForm(FlaskForm):
    totp_code = StringField(_l("Verification code"), validators=[Length(max=20)])


class ActionForm(FlaskForm):
    """A button that changes state: nothing but the CSRF token."""
