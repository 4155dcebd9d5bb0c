"""How a request is authenticated: a Flask-Login session, or an API bearer token.

A browser session is a row on the server (``UserSession``): the cookie carries only its
random key, so signing out or disabling the user ends it for every copy of the cookie.
A request that carries ``Authorization: Bearer`` is authenticated by the token alone (and
so needs no CSRF token: browsers never attach it cross-site); everything else that changes
state with a cookie session must carry a CSRF token.
"""
from __future__ import annotations

from functools import wraps

from flask import Flask, abort, flash, g, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import AnonymousUserMixin, current_user, login_required

from crisisline.accounts.models import User
from crisisline.accounts.services import (note_seen, session_for_key, two_factor_required,
                                          user_for_token)
from crisisline.database import db
from crisisline.extensions import csrf, login_manager
from crisisline.messages import shown

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class Anonymous(AnonymousUserMixin):
    role = None
    id = None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)
    login_manager.unauthorized_handler(_unauthorized)
    csrf.init_app(app)
    app.before_request(authenticate_request)
    app.before_request(require_first_steps)


def load_session_user(session_key: str) -> User | None:
    """The user of the session the cookie names, while that session has not ended."""
    record = session_for_key(session_key)
    if record is None:
        return None
    if g.get("_noting_sessions") and note_seen(record):
        db.commit()  # at the start of the request (see authenticate_request): nothing else
    g.user_session_id = record.id
    user = record.user
    user.session_key = session_key
    return user


def authenticate_request():
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(header[7:].strip(), note_use=True)
        db.commit()  # the token's last use, if noted; nothing else is pending yet
        if user is None:
            return jsonify(error=shown(_l("The API token is not valid or was revoked."))), 401
        g._login_user = user  # what flask_login.login_user sets, without touching the session
        g.authenticated_by_token = True
        return None
    if request.endpoint != "static":
        # load the signed-in user now, so noting the session's last use commits before the
        # view has changed anything (not later, in the middle of its work)
        g._noting_sessions = True
        current_user._get_current_object()
        g._noting_sessions = False
    if request.method not in SAFE_METHODS and not _csrf_exempt():
        csrf.protect()
    return None


# what someone who must first set a password or two-factor sign-in may still open
FIRST_STEPS = frozenset({"static", "accounts.account", "accounts.change_password",
                         "accounts.two_factor_start", "accounts.two_factor_confirm",
                         "accounts.logout"})


def require_first_steps():
    """A person with a temporary password or a used sign-in link sets their own password
    before anything else; then, where it is required, a supervisor or administrator sets
    up two-factor sign-in. Until then every other page sends them there (and the API
    refuses them)."""
    if not current_user.is_authenticated or request.endpoint in FIRST_STEPS:
        return None
    if current_user.must_change_password:
        message = _l("Set a password of your own before you continue.")
    elif two_factor_required(current_user):
        message = _l("Your role must sign in with two-factor sign-in: set it up before you "
                     "continue.")
    else:
        return None
    if g.get("authenticated_by_token") or request.path.startswith("/api/"):
        return jsonify(error=shown(message)), 403
    flash(shown(message), "error")
    return redirect(url_for("accounts.account"))


_EXEMPT_BLUEPRINTS: set[str] = set()


def _csrf_exempt() -> bool:
    return any(name in _EXEMPT_BLUEPRINTS for name in request.blueprints)


def exempt_blueprint(name: str) -> None:
    """For endpoints that authenticate otherwise, such as Twilio's signed webhooks."""
    _EXEMPT_BLUEPRINTS.add(name)


def _unauthorized():
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=shown(_l("Sign in first."))), 401
    return redirect(url_for("accounts.login", next=request.full_path))


def require_role(*roles):
    """Decorator for pages that only some roles have (what they show is still scoped)."""
    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate
