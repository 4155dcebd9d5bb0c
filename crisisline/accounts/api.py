"""The staff JSON API (administrators): list, create, read, change, disable, re-enable and
reset users, under the same rules as the admin pages."""
from __future__ import annotations

import marshmallow as ma
from flask import abort, jsonify
from flask_login import current_user, login_required
from flask_smorest import Blueprint
from sqlalchemy import select

from crisisline import validation
from crisisline.accounts import services
from crisisline.accounts.models import Role, User
from crisisline.database import db

blueprint = Blueprint("accounts_api", __name__, url_prefix="/api",
                      description="Staff accounts (administrators only)")


class StaffFields(ma.Schema):
    display_name = validation.Name(validate=ma.validate.Length(max=120))
    role = ma.fields.String(metadata={"enum": [role.value for role in Role]})
    organisation = ma.fields.String(metadata={"description": "the organisation's code"})
    unit = ma.fields.String(metadata={"description": "a reporter's unit path in the school"})
    identity = ma.fields.String(metadata={"description": "a reporter's identity"})
    phone = ma.fields.String()
    languages = ma.fields.List(ma.fields.String())
    team = ma.fields.String(metadata={"description": "a team name of their centre"})


class StaffIn(StaffFields):
    username = validation.Name(required=True, validate=ma.validate.Length(max=80))
    display_name = validation.Name(required=True, validate=ma.validate.Length(max=120))
    role = ma.fields.String(required=True)
    credential = ma.fields.String(load_default="link", metadata={
        "description": "link (a one-time sign-in link) or password (a temporary one)"})


class ResetIn(ma.Schema):
    credential = ma.fields.String(load_default="link")
    turn_off_two_factor = ma.fields.Boolean(load_default=False)


class StaffOut(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.Function(lambda user: user.role.value)
    organisation = ma.fields.Function(lambda user: services.details_of(user).organisation
                                      or None)
    unit = ma.fields.Function(lambda user: services.details_of(user).unit or None)
    identity = ma.fields.Function(lambda user: user.reporter_identity.value
                                  if user.reporter_identity else None)
    phone = ma.fields.String(allow_none=True)
    languages = ma.fields.Function(lambda user: (user.languages or "zh").split(","))
    team = ma.fields.Function(lambda user: services.details_of(user).team or None)
    active = ma.fields.Function(lambda user: user.is_active)
    must_change_password = ma.fields.Boolean()
    two_factor = ma.fields.Function(lambda user: user.totp_enabled_at is not None)
    created_at = ma.fields.DateTime()


def _admin_only() -> None:
    """Checked after the body (so a bad body is named whoever sends it)."""
    if current_user.role != Role.ADMIN:
        abort(403)


def _details(data: dict, base: services.StaffDetails | None = None) -> services.StaffDetails:
    base = base or services.StaffDetails()
    return services.StaffDetails(**{
        field: tuple(data[field]) if field == "languages" and field in data
        else data.get(field, getattr(base, field))
        for field in services.StaffDetails.__dataclass_fields__})


def _with_secret(user: User, secret: str, status: int):
    key = "sign_in_link" if secret.startswith(("http://", "https://")) \
        else "temporary_password"
    return jsonify(user=StaffOut().dump(user), **{key: secret}), status


@blueprint.route("/users", methods=["GET"])
@blueprint.response(200, StaffOut(many=True))
@login_required
def list_users():
    _admin_only()
    return db.scalars(select(User).order_by(User.role, User.username)).all()


@blueprint.route("/users", methods=["POST"])
@blueprint.arguments(StaffIn)
@blueprint.response(201, StaffOut)
@login_required
def create_user(data):
    """Create a staff member; the answer carries their one-time sign-in link or temporary
    password, once."""
    _admin_only()
    user, secret = services.create_staff(data["username"], _details(data),
                                         credential=data["credential"])
    db.commit()
    return _with_secret(user, secret, 201)


@blueprint.route("/users/<int:user_id>", methods=["GET"])
@blueprint.response(200, StaffOut)
@login_required
def get_user(user_id: int):
    _admin_only()
    return db.get(User, user_id) or abort(404)


@blueprint.route("/users/<int:user_id>", methods=["PATCH"])
@blueprint.arguments(StaffFields)
@blueprint.response(200, StaffOut)
@login_required
def update_user(data, user_id: int):
    """Change the fields given; the others stay as they are."""
    _admin_only()
    user = db.get(User, user_id) or abort(404)
    services.update_staff(user.id, _details(data, services.details_of(user)))
    db.commit()
    return user


@blueprint.route("/users/<int:user_id>/disable", methods=["POST"])
@blueprint.response(200, StaffOut)
@login_required
def disable_user(user_id: int):
    _admin_only()
    user = db.get(User, user_id) or abort(404)
    if user.id == current_user.id:
        abort(403)
    services.disable_user(user.username)
    db.commit()
    return user


@blueprint.route("/users/<int:user_id>/enable", methods=["POST"])
@blueprint.response(200, StaffOut)
@login_required
def enable_user(user_id: int):
    _admin_only()
    user = services.enable_user(user_id)
    db.commit()
    return user


@blueprint.route("/users/<int:user_id>/reset", methods=["POST"])
@blueprint.arguments(ResetIn)
@blueprint.response(200, StaffOut)
@login_required
def reset_user(data, user_id: int):
    """A new one-time sign-in link or temporary password in place of their password."""
    _admin_only()
    secret = services.reset_sign_in(user_id, data["credential"],
                                    turn_off_two_factor=data["turn_off_two_factor"])
    db.commit()
    return _with_secret(db.get(User, user_id), secret, 200)
