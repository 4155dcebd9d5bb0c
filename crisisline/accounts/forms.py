from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from crisisline.accounts.models import Role
from crisisline.i18n import ROLE_LABELS
from crisisline.validation import NameRule


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class CreateUserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80),
                                                       NameRule()])
    display_name = StringField(_l("Display name"), validators=[Length(max=120), NameRule()])
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, ROLE_LABELS[r.value])
                                             for r in Role])
    organisation = StringField(_l("Organisation code"), validators=[Length(max=40)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class ActionForm(FlaskForm):
    """A button that changes state: nothing but the CSRF token."""
