"""Crisisline: the application factory.

``create_app`` is the one place an application is put together; ``wsgi.py``, the Celery
worker and the ``crisisline`` command all build theirs with it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

from flask import Flask, g, jsonify, message_flashed, render_template, request
from flask_babel import format_datetime, get_locale, lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import UnprocessableEntity

from crisisline import messages  # first: marshmallow's messages before any schema is declared
from crisisline import database
from crisisline.config import ConfigError, load_settings  # noqa: F401  (re-exported)
from crisisline import audit, redis_waits
from crisisline.errors import Conflict, DomainError, Forbidden, Hidden, InvalidInput
from crisisline.extensions import api, babel, limiter, socketio
from crisisline.realtime import ConsoleQueue, last_event_id
from crisisline.i18n import select_locale, template_globals

INSTANCE_PATH = Path(__file__).resolve().parent.parent / "instance"


def create_app(config: Mapping | None = None, *, environ: Mapping[str, str] | None = None,
               instance_path: str | Path | None = None) -> Flask:
    """Build the application from the environment; ``config`` overrides settings (tests)."""
    environment = os.environ if environ is None else environ
    instance = Path(instance_path or environment.get("CRISISLINE_INSTANCE_PATH")
                    or INSTANCE_PATH)
    settings = load_settings(environ, instance_path=instance, overrides=config)
    instance.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__, instance_path=str(instance))
    app.config.update(settings.flask_config())
    app.extensions["crisisline.settings"] = settings
    from casework.policy import load_policy
    app.extensions["crisisline.policy"] = load_policy(environment.get("CRISISLINE_POLICY_FILE"))
    engine = database.make_engine(settings.database_url)
    app.extensions["crisisline.engine"] = engine
    app.extensions["crisisline.db_bind"] = engine
    app.teardown_appcontext(lambda _exc: database.db.remove())

    from crisisline import models  # noqa: F401  (every table)
    import schoolnet
    schoolnet.init_app(app)
    from hotline import access as hotline_access  # noqa: F401  (registers its access rules)
    from crisisline.realtime import console  # noqa: F401  (the /console socket handlers)
    from crisisline.accounts import security
    security.init_app(app)

    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Redis down, frozen or refusing must not turn a sign-in or a student's first chat
    # message into a 500 or a hang: a count waits on Redis COMMAND_TIMEOUT at most, then
    # Flask-Limiter counts in this process's memory (the same limits, per process) and tries
    # Redis again on a backoff (1 s, 2 s, 4 s...). Errors past the fallback (Redis failing
    # between a request's count and its X-RateLimit headers) are logged and swallowed:
    # bookkeeping must never fail the request it counts. (Set with or without Redis: the
    # limiter is one object, which keeps the first app's choice of these two.)
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    if settings.redis_url:
        app.config["RATELIMIT_STORAGE_OPTIONS"] = redis_waits.client_options()
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    # Origin is checked against the serving host (same-origin) by python-socketio's default.
    # With Redis, the queue is Flask-SocketIO's own, remembering what came through it (see
    # ConsoleQueue); a fresh one (or none) per app, never one left from an earlier init_app.
    queue = ConsoleQueue(settings.redis_url, channel=socketio.server_options.get(
        "channel", "flask-socketio")) if settings.redis_url else None
    socketio.init_app(app, message_queue=settings.redis_url, client_manager=queue,
                      async_mode="threading", logger=False, engineio_logger=False)
    api.init_app(app)

    _register_blueprints(app)
    _register_request_hooks(app)
    _register_error_handlers(app)
    if app.testing:  # every flash a test reaches is a translated catalog message
        message_flashed.connect(messages.check_flash, app)
    from crisisline.pages import typed, typed_list
    app.jinja_env.globals.update(get_locale=get_locale, last_console_event_id=last_event_id,
                                 typed=typed, typed_list=typed_list, **template_globals())
    app.jinja_env.filters["datetimeformat"] = lambda value: format_datetime(
        value, "yyyy-MM-dd HH:mm")  # in the centre's time zone; unambiguous in both languages
    app.jinja_env.filters["timeformat"] = lambda value: format_datetime(value, "HH:mm")
    logging.getLogger("crisisline").setLevel(logging.INFO)

    from crisisline.celery_app import create_celery
    create_celery(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from casework.api import blueprint as casework_api
    from crisisline.accounts.api import blueprint as accounts_api
    from casework.student_api import blueprint as students_api
    from casework.student_views import blueprint as student_pages
    from casework.views import blueprint as casework_pages
    from crisisline.access.views import api_blueprint as access_api
    from crisisline.access.views import blueprint as access_pages
    from crisisline.accounts.views import blueprint as accounts_pages
    from crisisline.audit.views import blueprint as audit_pages
    from crisisline.district.views import api_blueprint as district_api
    from crisisline.district.views import blueprint as district_pages
    from crisisline.imports.views import blueprint as import_pages
    from hotline.chat import blueprint as student_chat
    from hotline.views import api_blueprint as hotline_api
    from hotline.twilio_views import blueprint as twilio_webhooks
    from hotline.views import blueprint as hotline_pages
    from schoolnet.api import blueprint as schoolnet_api
    from schoolnet.views import blueprint as schoolnet_pages

    for blueprint in (accounts_pages, access_pages, audit_pages, district_pages, import_pages,
                      hotline_pages, casework_pages, student_pages, schoolnet_pages,
                      twilio_webhooks, student_chat):
        app.register_blueprint(blueprint)
    for blueprint in (access_api, district_api, hotline_api, casework_api, accounts_api,
                      students_api, schoolnet_api):
        api.register_blueprint(blueprint)


def _register_request_hooks(app: Flask) -> None:
    from crisisline.audit.services import request_id
    from crisisline.validation import check_request

    @app.before_request
    def _assign_request_id():
        request_id()

    # bad text anywhere in a request, or JSON nested too deep, never reaches a view
    app.before_request(check_request)

    @app.after_request
    def _headers(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", _content_security_policy())
        if request.endpoint != "static":
            # pages and answers show personal data (the anonymous chat shows a student's
            # own words): never kept by a browser's or a proxy's cache; static files may be
            response.headers["Cache-Control"] = "no-store"
        return response


def _content_security_policy() -> str:
    """Scripts, styles and everything else only from this server's own files (no inline
    script, no eval); the Socket.IO connection to this server over polling ('self') or
    WebSocket (named too, as older browsers do not count ws:/wss: as 'self')."""
    socket = f"{'wss' if request.scheme == 'https' else 'ws'}://{request.host}"
    return "; ".join((
        "default-src 'self'", "script-src 'self'", "style-src 'self'",
        "img-src 'self' data:", f"connect-src 'self' {socket}",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'",
        "frame-ancestors 'none'"))


HTTP_MESSAGES = {  # what a person reads for an HTTP error with no message of our own
    400: _l("The request could not be understood."), 401: _l("Sign in first."),
    403: _l("You may not do this."), 404: _l("Not found."),
    405: _l("This cannot be done here."), 413: _l("What you sent is too large."),
    429: _l("Too many attempts. Wait a minute and try again."),
    500: _l("Something went wrong. Please try again."),
}


def _register_error_handlers(app: Flask) -> None:
    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.is_json

    def audit_refusal(object_type=None, object_id=None) -> None:
        # after the rollback, so the refusal is kept while the refused work is not
        audit.record("access.denied", outcome=audit.DENIED, object_type=object_type,
                     object_id=object_id, changes={"path": {"new": request.path}})
        database.db.commit()

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        database.db.rollback()
        if isinstance(error, Forbidden):
            audit_refusal(error.details.get("object_type"), error.details.get("object_id"))
        elif isinstance(error, Hidden):  # refused, though answered as if it did not exist
            audit_refusal(error.object_type, error.object_id)
        message = messages.shown(error.message)
        fields = error.details.get("fields") or {}
        if wants_json():
            details = {**error.details, **({"fields": messages.problems(fields)} if fields
                                           else {})}
            return jsonify(**details, error=message), error.status
        return render_template("error.html", status=error.status, message=message,
                               problems=[messages.problem_line(field, problem)
                                         for field, problem in fields.items()],
                               details=error.details), error.status

    @app.errorhandler(DataError)
    def _unstorable(_error):
        # the last line of defence: schemas and services check values before they get here
        return _domain_error(InvalidInput({}, _l("a value is too long or holds characters "
                                                 "that cannot be stored")))

    @app.errorhandler(OverflowError)
    def _out_of_range(_error):
        return _domain_error(InvalidInput({}, _l("a number or date is out of range")))

    @app.errorhandler(StaleDataError)
    def _lost_race(_error):
        # two writers held the same version; the other one's change was committed first
        return _domain_error(Conflict(_l("the record was changed by someone else meanwhile; "
                                         "reload it and try again")))

    @app.errorhandler(UnprocessableEntity)
    def _unparsable(error):
        # webargs (flask-smorest's arguments) refused the request: the same answer as a
        # service's InvalidInput, naming each field, with webargs' own "errors" kept
        database.db.rollback()
        refused = (getattr(error, "data", None) or {}).get("messages") or {}
        fields = {field: problem for location in refused.values()
                  for field, problem in (location.items() if isinstance(location, dict)
                                         else [("", location)])}
        if not wants_json():
            return _domain_error(InvalidInput(fields))
        return jsonify(code=422, status="Unprocessable Entity",
                       error=messages.shown(InvalidInput.default_message),
                       fields=messages.problems(fields),
                       errors={location: messages.problems(problems)
                               if isinstance(problems, dict) else messages.shown(problems)
                               for location, problems in refused.items()}), 422

    for status in (400, 401, 403, 404, 405, 413, 429, 500):
        @app.errorhandler(status)
        def _http_error(error, status=status):
            database.db.rollback()
            if status == 403:
                audit_refusal()
            message = messages.shown(
                _l("This form has expired. Reload the page and try again.")
                if isinstance(error, CSRFError) else HTTP_MESSAGES[status])
            if wants_json():
                return jsonify(error=message), status
            # the page's heading already says it for these
            return render_template("error.html", status=status, message=None if status in (
                403, 404, 429) and not isinstance(error, CSRFError) else message), status
