"""Signing in and out, each role's home page, and user administration."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from limits import parse
from sqlalchemy import select

from crisisline import audit
from crisisline.accounts import services
from crisisline.accounts.forms import ActionForm, CreateUserForm, LoginForm
from crisisline.accounts.models import Role, User
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.pages import save
from crisisline.rate_limits import GrowingWait, hit

blueprint = Blueprint("accounts", __name__)

ROLE_HOME = {
    Role.VOLUNTEER: "hotline.volunteer_home",
    Role.COUNSELOR: "casework.counselor_home",
    Role.SUPERVISOR: "casework.supervisor_home",
    Role.HOSPITAL_LIAISON: "casework.liaison_home",
    Role.REPORTER: "casework.reporter_home",
    Role.ADMIN: "accounts.admin_users",
}


def _sign_in_waits() -> GrowingWait:
    """Wrong passwords slow down the (account, address) pair that typed them, never the
    account everywhere: someone guessing elsewhere cannot lock its owner out."""
    config = current_app.config
    return GrowingWait("sign-in", free=config["SIGN_IN_FREE_FAILURES"],
                       first=config["SIGN_IN_FIRST_WAIT_SECONDS"],
                       cap=config["SIGN_IN_MAX_WAIT_SECONDS"],
                       memory=config["SIGN_IN_FAILURE_MEMORY_SECONDS"])


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data.strip().lower()[:80]
        # a generous limit per address (a centre's staff share one), counted here rather
        # than by a decorator, whose headers would announce its window as the wait
        address_limit = parse(current_app.config["LOGIN_ADDRESS_RATE_LIMIT"])
        if not hit(address_limit, "sign-in-address", request.remote_addr or ""):
            return _slowed_down(form, username, address_limit.get_expiry(), "address")
        pair = f"{username}/{request.remote_addr}"
        waits = _sign_in_waits()
        if wait := waits.remaining(pair):
            return _slowed_down(form, username, wait, "account_and_address")
        user = services.sign_in(form.username.data, form.password.data, request.remote_addr)
        if user is not None:
            login_user(user)
        db.commit()
        if user is not None:
            waits.forget(pair)
            return redirect(_safe_next(request.args.get("next")) or url_for("accounts.home"))
        waits.failed(pair)
        flash(_("Wrong username or password."), "error")
        return render_template("accounts/login.html", form=form), 401
    return render_template("accounts/login.html", form=form)


def _slowed_down(form: LoginForm, username: str, wait: int, limit: str):
    """Refused without checking the password; audited, answered 429 with Retry-After."""
    user = User.by_username(username)
    audit.record("auth.login_throttled", outcome=audit.DENIED, object_type="user",
                 object_id=user.id if user else None,
                 changes={"username": {"new": username}, "limit": {"new": limit},
                          "wait_seconds": {"new": wait}})
    db.commit()
    flash(_("Too many sign-in attempts. Please try again in %(seconds)d seconds.",
            seconds=wait), "error")
    response = current_app.make_response(
        (render_template("accounts/login.html", form=form), 429))
    response.headers["Retry-After"] = str(wait)
    return response


@blueprint.route("/logout", methods=["POST"])
@login_required
def logout():
    if g.get("user_session_id") is not None:  # (an API token has no session to end)
        services.sign_out(g.user_session_id)
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
