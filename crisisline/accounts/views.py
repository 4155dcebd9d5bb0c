"""Signing in and out, each role's home page, and user administration."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template,
                   request, session, url_for)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from limits import parse
from sqlalchemy import select
from wtforms import SelectChoice

from crisisline import audit
from crisisline.accounts import services
from crisisline.accounts.forms import (ActionForm, ChangePasswordForm, CodeForm,
                                       CreateStaffForm, LoginForm, ResetForm, StaffForm)
from crisisline.accounts.models import (Organisation, Role, SchoolUnit, SignInLink, Team,
                                        User)
from crisisline.accounts.security import require_role
from crisisline.database import db, utcnow
from crisisline.pages import save
from crisisline.rate_limits import GrowingWait, hit

blueprint = Blueprint("accounts", __name__)

ROLE_HOME = {
    Role.VOLUNTEER: "hotline.volunteer_home",
    Role.COUNSELOR: "casework.counselor_home",
    Role.SUPERVISOR: "casework.supervisor_home",
    Role.HOSPITAL_LIAISON: "casework.liaison_home",
    Role.REPORTER: "schoolnet.reporter_home",
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
        if (refused := _sign_in_limits(form, username)) is not None:
            return refused
        pair = _pair(username)
        user = services.check_credentials(form.username.data, form.password.data)
        if user is not None and user.totp_enabled_at is not None:
            # the password was right; the code comes next, and only then a session
            session[SECOND_STEP] = {"user": user.id, "username": username,
                                    "at": int(time.time()),
                                    "next": _safe_next(request.args.get("next"))}
            db.commit()
            return redirect(url_for("accounts.login_code"))
        if user is not None:
            login_user(services.start_session(user, request.remote_addr))
        db.commit()
        if user is not None:
            _sign_in_waits().forget(pair)
            return redirect(_safe_next(request.args.get("next")) or url_for("accounts.home"))
        _sign_in_waits().failed(pair)
        flash(_("Wrong username or password."), "error")
        return render_template("accounts/login.html", form=form), 401
    return render_template("accounts/login.html", form=form)


SECOND_STEP = "second_factor"
SECOND_STEP_SECONDS = 300  # from the right password to the code


def _pair(username: str) -> str:
    return f"{username}/{request.remote_addr}"


def _sign_in_limits(form, username: str):
    """A refusal (429) when this address or this (account, address) pair must wait, else
    None: checked before a password or a code is."""
    # a generous limit per address (a centre's staff share one), counted here rather
    # than by a decorator, whose headers would announce its window as the wait
    address_limit = parse(current_app.config["LOGIN_ADDRESS_RATE_LIMIT"])
    if not hit(address_limit, "sign-in-address", request.remote_addr or ""):
        return _slowed_down(form, username, address_limit.get_expiry(), "address")
    if wait := _sign_in_waits().remaining(_pair(username)):
        return _slowed_down(form, username, wait, "account_and_address")
    return None


def _pending_second_step() -> dict | None:
    pending = session.get(SECOND_STEP)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > \
            SECOND_STEP_SECONDS:
        session.pop(SECOND_STEP, None)
        return None
    return pending


@blueprint.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step of signing in, for someone with two-factor sign-in: the code."""
    pending = _pending_second_step()
    if pending is None:
        flash(_("The sign-in has expired. Please sign in again."), "error")
        return redirect(url_for("accounts.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("accounts/login_code.html", form=form), \
            422 if form.is_submitted() else 200
    if (refused := _sign_in_limits(form, pending["username"])) is not None:
        return refused
    user = db.get(User, pending["user"])
    if user is None or not user.is_active:
        session.pop(SECOND_STEP, None)
        return redirect(url_for("accounts.login"))
    if not services.code_is_right(user, form.totp_code.data):
        audit.record("auth.second_factor_failed", user, outcome=audit.FAILURE, actor=user)
        db.commit()
        _sign_in_waits().failed(_pair(pending["username"]))
        flash(_("The code is not right. Enter the one your authenticator app shows now."),
              "error")
        return render_template("accounts/login_code.html", form=form), 401
    session.pop(SECOND_STEP, None)
    login_user(services.start_session(user, request.remote_addr,
                                      via=pending.get("via") or "two_factor"))
    db.commit()
    _sign_in_waits().forget(_pair(pending["username"]))
    return redirect(pending.get("next") or url_for("accounts.home"))


@blueprint.route("/sign-in/<token>", methods=["GET", "POST"])
def sign_in_link(token: str):
    """A one-time sign-in link: shown first (a chat app's link preview must not use it
    up), used by the button, after which the person sets their own password."""
    if request.method == "GET":
        user = services.sign_in_link_user(token)
        db.rollback()
        if user is None:
            return render_template("accounts/sign_in_link.html", user=None,
                                   form=ActionForm()), 404
        return render_template("accounts/sign_in_link.html", user=user, form=ActionForm())
    if not ActionForm().validate_on_submit():
        abort(400)
    if current_user.is_authenticated:  # whoever was signed in here signs out first
        if g.get("user_session_id") is not None:
            services.sign_out(g.user_session_id)
        logout_user()
    user = services.use_sign_in_link(token)
    if user is None:
        db.commit()  # the refusal's audit entry
        return render_template("accounts/sign_in_link.html", user=None,
                               form=ActionForm()), 404
    if user.totp_enabled_at is not None:
        session[SECOND_STEP] = {"user": user.id, "username": user.username.lower(),
                                "at": int(time.time()), "next": None, "via": "sign_in_link"}
        db.commit()
        return redirect(url_for("accounts.login_code"))
    login_user(services.start_session(user, request.remote_addr, via="sign_in_link"))
    db.commit()
    return redirect(url_for("accounts.account"))


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
    template = "accounts/login_code.html" if isinstance(form, CodeForm) \
        else "accounts/login.html"
    response = current_app.make_response((render_template(template, form=form), 429))
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


# -- one's own account: password and two-factor sign-in --------------------------------------

@blueprint.route("/account")
@login_required
def account():
    return _account_page()


def _account_page(status: int = 200, password_form=None, code_form=None):
    user = current_user
    secret = user.totp_secret if user.totp_secret and user.totp_enabled_at is None else None
    return render_template(
        "accounts/account.html", password_form=password_form or ChangePasswordForm(),
        code_form=code_form or CodeForm(), action_form=ActionForm(), secret=secret,
        uri=services.provisioning_uri(user) if secret else None,
        two_factor_roles=services.TWO_FACTOR_ROLES,
        two_factor_required=current_app.config.get("REQUIRE_2FA")
        and user.role in services.TWO_FACTOR_ROLES), status


@blueprint.route("/account/password", methods=["POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        forced = current_user.must_change_password
        done = save(lambda: services.change_password(
            current_user.id, form.new_password.data, form.new_password_again.data,
            form.current_password.data, keep_session_id=g.get("user_session_id")),
            _l("Your new password is set."))
        if done is not None:
            return redirect(url_for("accounts.home") if forced else url_for("accounts.account"))
    return _account_page(422, password_form=form)


@blueprint.route("/account/two-factor/start", methods=["POST"])
@login_required
def two_factor_start():
    if not ActionForm().validate_on_submit():
        abort(400)
    save(lambda: services.start_two_factor(current_user.id))
    return redirect(url_for("accounts.account"))


@blueprint.route("/account/two-factor/confirm", methods=["POST"])
@login_required
def two_factor_confirm():
    form = CodeForm()
    if form.validate_on_submit() and save(
            lambda: services.confirm_two_factor(current_user.id, form.totp_code.data),
            _l("Two-factor sign-in is on: from now on you sign in with a code too.")):
        return redirect(url_for("accounts.home"))
    return _account_page(422, code_form=form)


@blueprint.route("/account/two-factor/off", methods=["POST"])
@login_required
def two_factor_off():
    form = CodeForm()
    if form.validate_on_submit() and save(
            lambda: services.turn_off_two_factor(current_user.id, form.totp_code.data),
            _l("Two-factor sign-in is off.")):
        return redirect(url_for("accounts.account"))
    return _account_page(422, code_form=form)


# -- staff administration ---------------------------------------------------------------------

def _fill_choices(form) -> None:
    """The organisations and teams a staff member may be given (checked again on save)."""
    organisations = db.scalars(select(Organisation).order_by(Organisation.kind,
                                                             Organisation.code)).all()
    form.organisation.choices = [SelectChoice("", _("(none)"))] + [
        SelectChoice(org.code, f"{org.name}（{org.code}）") for org in organisations]
    names = db.scalars(select(Team.name).distinct().order_by(Team.name)).all()
    form.team.choices = [SelectChoice("", _("(no team)"))] + [
        SelectChoice(name, name) for name in names]


def _unit_options() -> list[tuple[str, str]]:
    """(unit path, school name) for the unit field's suggestions."""
    units = db.scalars(select(SchoolUnit).order_by(SchoolUnit.school_id, SchoolUnit.id)
                       .limit(UNIT_SUGGESTIONS)).all()
    return [(unit.path, unit.school.name) for unit in units]


UNIT_SUGGESTIONS = 3000


def _details(form) -> services.StaffDetails:
    return services.StaffDetails(
        display_name=form.display_name.data or "", role=form.role.data or "",
        organisation=form.organisation.data or "", unit=form.unit.data or "",
        identity=form.identity.data or "", phone=form.phone.data or "",
        languages=tuple(form.languages.data or ()), team=form.team.data or "")


@blueprint.route("/admin/users", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def admin_users():
    form = CreateStaffForm()
    _fill_choices(form)
    if form.validate_on_submit():
        created = save(lambda: services.create_staff(form.username.data or "", _details(form),
                                                     credential=form.credential.data))
        if created is not None:
            user, secret = created
            return _credential_page(user, secret, created=True)
    query = select(User).order_by(User.role, User.username)
    search = (request.args.get("q") or "").strip()[:80]
    if search:
        query = query.where(User.username.icontains(search, autoescape=True)
                            | User.display_name.icontains(search, autoescape=True))
    users = db.scalars(query.limit(USERS_SHOWN)).all()
    return render_template("accounts/admin_users.html", users=users, form=form,
                           search=search, units=_unit_options(), shown_at_most=USERS_SHOWN,
                           action_form=ActionForm()), 422 if form.is_submitted() else 200


USERS_SHOWN = 500


def _credential_page(user: User, secret: str, *, created: bool):
    """The new user's link or temporary password, shown this once (never stored)."""
    return render_template("accounts/credential.html", user=user, secret=secret,
                           is_link=secret.startswith(("http://", "https://")),
                           created=created), 201 if created else 200


@blueprint.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def admin_user(user_id: int):
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    form = StaffForm(data=None if request.method == "POST" else
                     _form_data(services.details_of(user)))
    _fill_choices(form)
    status = 200
    if form.validate_on_submit():
        details = _details(form)
        if user.id == current_user.id and details.role != Role.ADMIN.value:
            flash(_("You cannot take away your own administrator role."), "error")
            status = 422
        else:
            changed = save(lambda: services.update_staff(user.id, details))
            if changed is not None:
                flash(_("User %(name)s updated.", name=user.username) if changed else
                      _("Nothing was changed."), "success")
                return redirect(url_for("accounts.admin_user", user_id=user.id))
            status = 422
    elif form.is_submitted():
        status = 422
    links = db.scalars(select(SignInLink).where(SignInLink.user_id == user.id)
                       .order_by(SignInLink.created_at.desc()).limit(5)).all()
    return render_template("accounts/admin_user.html", user=user, form=form,
                           reset_form=ResetForm(), action_form=ActionForm(), links=links,
                           units=_unit_options(), now=utcnow()), status


def _form_data(details: services.StaffDetails) -> dict:
    return {"display_name": details.display_name, "role": details.role,
            "organisation": details.organisation, "unit": details.unit,
            "identity": details.identity, "phone": details.phone,
            "languages": list(details.languages), "team": details.team}


@blueprint.route("/admin/users/<int:user_id>/reset", methods=["POST"])
@require_role(Role.ADMIN)
def admin_reset_user(user_id: int):
    form = ResetForm()
    if not form.validate_on_submit():
        abort(400)
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    secret = save(lambda: services.reset_sign_in(
        user.id, form.credential.data, turn_off_two_factor=form.turn_off_two_factor.data))
    if secret is None:
        return redirect(url_for("accounts.admin_user", user_id=user.id))
    return _credential_page(user, secret, created=False)


@blueprint.route("/admin/users/<int:user_id>/disable", methods=["POST"])
@require_role(Role.ADMIN)
def admin_disable_user(user_id: int):
    user = db.get(User, user_id)
    if user is None or user.id == current_user.id:
        flash(_("You cannot disable this user."), "error")
        return redirect(url_for("accounts.admin_users"))
    if save(lambda: services.disable_user(user.username)) is not None:
        flash(_("User %(name)s disabled; their sessions and tokens have ended.",
                name=user.username), "success")
    return redirect(url_for("accounts.admin_user", user_id=user.id))


@blueprint.route("/admin/users/<int:user_id>/enable", methods=["POST"])
@require_role(Role.ADMIN)
def admin_enable_user(user_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    if save(lambda: services.enable_user(user.id)) is not None:
        flash(_("User %(name)s can sign in again.", name=user.username), "success")
    return redirect(url_for("accounts.admin_user", user_id=user.id))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
