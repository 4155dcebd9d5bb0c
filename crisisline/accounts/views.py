"""Signing in and out, each role's home page, and user administration."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from crisisline import audit
from crisisline.accounts import services
from crisisline.accounts.forms import ActionForm, CreateUserForm, LoginForm
from crisisline.accounts.models import Role, User
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.pages import save
from crisisline.extensions import limiter

blueprint = Blueprint("accounts", __name__)

ROLE_HOME = {
    Role.VOLUNTEER: "hotline.volunteer_home",
    Role.COUNSELOR: "casework.counselor_home",
    Role.SUPERVISOR: "casework.supervisor_home",
    Role.HOSPITAL_LIAISON: "casework.liaison_home",
    Role.REPORTER: "casework.reporter_home",
    Role.ADMIN: "accounts.admin_users",
}


def _account_rate() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _address_rate() -> str:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _username_key() -> str:
    return "login-user:" + (request.form.get("username") or "").strip().lower()[:80]


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_address_rate, methods=["POST"])
@limiter.limit(_account_rate, methods=["POST"], key_func=_username_key)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user)
        db.commit()
        if user is not None:
            return redirect(_safe_next(request.args.get("next")) or url_for("accounts.home"))
        flash(_("Wrong username or password."), "error")
        return render_template("accounts/login.html", form=form), 401
    return render_template("accounts/login.html", form=form)


@blueprint.route("/logout", methods=["POST"])
@login_required
def logout():
    audit.record("auth.logout", current_user._get_current_object())
    logout_user()
    db.commit()
    return redirect(url_for("accounts.login"))


@blueprint.route("/")
@login_required
def home():
    return redirect(url_for(ROLE_HOME[current_user.role]))


@blueprint.route("/admin/users", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def admin_users():
    form = CreateUserForm()
    if form.validate_on_submit():
        user = save(lambda: services.create_user(
            form.username.data, form.role.data, form.password.data,
            display_name=form.display_name.data or None,
            organisation_codes=[form.organisation.data] if form.organisation.data else []))
        if user is not None:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("accounts.admin_users"))
    users = db.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("accounts/admin_users.html", users=users, form=form,
                           action_form=ActionForm()), 422 if form.is_submitted() else 200


@blueprint.route("/admin/users/<int:user_id>/disable", methods=["POST"])
@require_role(Role.ADMIN)
def admin_disable_user(user_id: int):
    user = db.get(User, user_id)
    if user is None or user.id == current_user.id:
        flash(_("You cannot disable this user."), "error")
        return redirect(url_for("accounts.admin_users"))
    services.disable_user(user.username)
    db.commit()
    flash(_("User %(name)s disabled; their sessions and tokens have ended.",
            name=user.username), "success")
    return redirect(url_for("accounts.admin_users"))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
