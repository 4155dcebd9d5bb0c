"""Configuration from the environment, in one place.

Every setting Crisisline reads from the environment is parsed and validated here, so a
malformed value stops the process at start-up with a message naming the variable, instead
of failing later in the middle of a call.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENTS = ("development", "production", "testing")
SUPPORTED_DATABASES = ("sqlite", "postgresql")
TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
E164 = re.compile(r"^\+[1-9]\d{4,14}$")
DEMO_HOTLINE = "+861088880000"  # the demo centre's number, and its texts' sender


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str
    instance_path: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    public_url: str
    audit_key: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    backup_line: str | None
    twilio_from_number: str | None = None
    twilio_transport: str = "record"
    break_glass_minutes: int = 30
    api_token_days: int = 90  # an API token stops working this long after it was issued
    login_address_rate_limit: str = "30 per minute"  # per address: a centre shares one NAT
    # wrong passwords of one (account, address) pair: this many are free, then the pair
    # waits 1 s, 2 s, 4 s... (at most the cap) before its next attempt is even checked; the
    # count is forgotten after the memory (or at a successful sign-in)
    sign_in_free_failures: int = 5
    sign_in_first_wait_seconds: int = 1
    sign_in_max_wait_seconds: int = 300
    sign_in_failure_memory_seconds: int = 3600
    # supervisors and administrators must sign in with a TOTP code (set up at first sign-in)
    require_2fa: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def flask_config(self) -> dict:
        """The mapping given to ``app.config``."""
        return {
            "ENV_NAME": self.env,
            "TESTING": self.env == "testing",
            "SECRET_KEY": self.secret_key,
            "AUDIT_KEY": self.audit_key,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PUBLIC_URL": self.public_url,
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "BACKUP_LINE": self.backup_line,
            "TWILIO_FROM_NUMBER": self.twilio_from_number,
            "TWILIO_TRANSPORT": self.twilio_transport,
            "BREAK_GLASS_MINUTES": self.break_glass_minutes,
            "API_TOKEN_DAYS": self.api_token_days,
            "LOGIN_ADDRESS_RATE_LIMIT": self.login_address_rate_limit,
            "SIGN_IN_FREE_FAILURES": self.sign_in_free_failures,
            "SIGN_IN_FIRST_WAIT_SECONDS": self.sign_in_first_wait_seconds,
            "SIGN_IN_MAX_WAIT_SECONDS": self.sign_in_max_wait_seconds,
            "SIGN_IN_FAILURE_MEMORY_SECONDS": self.sign_in_failure_memory_seconds,
            "REQUIRE_2FA": self.require_2fa,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.env == "production",
            "REMEMBER_COOKIE_SECURE": self.env == "production",
            "WTF_CSRF_CHECK_DEFAULT": False,  # checked in auth, so Bearer API calls are exempt
            "WTF_CSRF_TIME_LIMIT": None,
            "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
            "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
            "API_TITLE": "Crisisline API",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/api",
            "OPENAPI_JSON_PATH": "openapi.json",
            "API_SPEC_OPTIONS": {
                "security": [{"bearerAuth": []}],
                "components": {"securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer",
                                   "description": "crisisline users token NAME"}}},
            },
            **self.extra,
        }


def load_settings(environ: Mapping[str, str] | None = None, *, instance_path: Path,
                  overrides: Mapping | None = None) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` naming a bad variable."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})

    env_name = env.get("CRISISLINE_ENV", "development").strip() or "development"
    if env_name not in ENVIRONMENTS:
        raise ConfigError(
            f"CRISISLINE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env_name!r}")

    database_url = overrides.pop("DATABASE_URL", None) or env.get("CRISISLINE_DATABASE_URL") \
        or f"sqlite:///{instance_path / 'crisisline.sqlite'}"
    database_url = _database_url(database_url)

    redis_url = overrides.pop("REDIS_URL", None) or env.get("CRISISLINE_REDIS_URL") or None
    if redis_url is not None:
        parts = urlsplit(redis_url)
        try:
            _ = parts.port  # raises ValueError for a port that is not a number
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ConfigError("CRISISLINE_REDIS_URL must look like redis://host:6379/0, "
                              f"not {redis_url!r}")

    secret_key = overrides.pop("SECRET_KEY", None) or env.get("CRISISLINE_SECRET_KEY")
    if not secret_key:
        if env_name == "production":
            raise ConfigError("CRISISLINE_SECRET_KEY is required when CRISISLINE_ENV=production "
                              "(a long random string, the same for every web process)")
        secret_key = _kept_secret_key(instance_path)
    elif len(secret_key) < 32:
        raise ConfigError("CRISISLINE_SECRET_KEY must be at least 32 characters long")

    audit_key = overrides.pop("AUDIT_KEY", None) or env.get("CRISISLINE_AUDIT_KEY")
    if not audit_key:
        if env_name == "production":
            raise ConfigError("CRISISLINE_AUDIT_KEY is required when CRISISLINE_ENV=production "
                              "(a long random string kept outside the database, the same for "
                              "every process; it keys the audit chain)")
        audit_key = _kept_key(instance_path, "audit_key", "CRISISLINE_AUDIT_KEY")
    elif len(audit_key) < 32:
        raise ConfigError("CRISISLINE_AUDIT_KEY must be at least 32 characters long")

    public_url = env.get("CRISISLINE_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("CRISISLINE_PUBLIC_URL must be an http(s) URL such as "
                          f"https://hotline.example.cn, not {public_url!r}")

    sid = env.get("TWILIO_ACCOUNT_SID") or None
    token = env.get("TWILIO_AUTH_TOKEN") or None
    transport = env.get("CRISISLINE_TWILIO_TRANSPORT") or (
        "live" if env_name == "production" else "record")
    from_number = env.get("TWILIO_FROM_NUMBER") or None
    if env_name == "development" and transport == "record" and not (sid or token):
        # the demo signs and records Twilio traffic with credentials of its own, kept in
        # the instance folder so `crisisline simulate` signs what the server accepts
        token = _kept_secret(instance_path, "twilio_demo_token", lambda: secrets.token_hex(16))
        sid, from_number = "AC" + "0" * 32, from_number or DEMO_HOTLINE
    if sid is not None and not TWILIO_SID.match(sid):
        raise ConfigError("TWILIO_ACCOUNT_SID must be 'AC' followed by 32 hexadecimal digits")
    if token is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", token):
        raise ConfigError("TWILIO_AUTH_TOKEN must be 32 hexadecimal digits")
    if env_name == "production" and sid and not token:
        raise ConfigError("TWILIO_AUTH_TOKEN is required when TWILIO_ACCOUNT_SID is set")

    backup_line = env.get("CRISISLINE_BACKUP_LINE") or None
    if backup_line is not None and not E164.match(backup_line):
        raise ConfigError("CRISISLINE_BACKUP_LINE must be a phone number in E.164 form, "
                          f"such as +8612356 or +861012356, not {backup_line!r}")

    if from_number is not None and not E164.match(from_number):
        raise ConfigError("TWILIO_FROM_NUMBER must be Crisisline's Twilio number in E.164 form, "
                          f"not {from_number!r}")
    if transport not in ("live", "record"):
        raise ConfigError("CRISISLINE_TWILIO_TRANSPORT must be 'live' (Twilio's servers) or "
                          f"'record' (an outbox file, for development), not {transport!r}")

    minutes = _positive_int(env, "CRISISLINE_BREAK_GLASS_MINUTES", 30)
    if minutes > 24 * 60:
        raise ConfigError("CRISISLINE_BREAK_GLASS_MINUTES must be at most a day (1440): "
                          "break-the-glass access is time-boxed")
    token_days = _positive_int(env, "CRISISLINE_API_TOKEN_DAYS", 90)
    if token_days > 3660:
        raise ConfigError("CRISISLINE_API_TOKEN_DAYS must be at most ten years (3660): "
                          "API tokens expire")

    require_2fa = _flag(env, "CRISISLINE_REQUIRE_2FA", env_name == "production")

    return Settings(env=env_name, instance_path=instance_path, database_url=database_url,
                    redis_url=redis_url, secret_key=secret_key, public_url=public_url,
                    audit_key=audit_key,
                    twilio_account_sid=sid, twilio_auth_token=token, backup_line=backup_line,
                    twilio_from_number=from_number, twilio_transport=transport,
                    break_glass_minutes=minutes, api_token_days=token_days,
                    require_2fa=require_2fa, extra=overrides)


def _database_url(raw: str) -> str:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"CRISISLINE_DATABASE_URL is not a database URL: {raw!r}") from None
    if url.get_backend_name() not in SUPPORTED_DATABASES:
        raise ConfigError("CRISISLINE_DATABASE_URL must be a postgresql:// or sqlite:/// URL, "
                          f"not {url.get_backend_name()!r}")
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    if url.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise ConfigError(f"CRISISLINE_DATABASE_URL: the driver {url.drivername!r} is not "
                          "installed; use postgresql:// (psycopg 3) or sqlite:///")
    return url.render_as_string(hide_password=False)


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in TRUE_WORDS + FALSE_WORDS:
        raise ConfigError(f"{name} must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}, "
                          f"not {env.get(name)!r}")
    return raw in TRUE_WORDS


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero")
    return value


def _kept_secret_key(instance_path: Path) -> str:
    """The embedded default's secret key: generated on first run, then kept."""
    return _kept_key(instance_path, "secret_key", "CRISISLINE_SECRET_KEY",
                     "; delete the file to generate a new one")


def _kept_key(instance_path: Path, name: str, variable: str, remedy: str = "") -> str:
    """A key of the embedded default (``instance/<name>``): generated on first run, then kept.

    (A damaged audit key has no such remedy: the chain was keyed with it.)"""
    key = _kept_secret(instance_path, name, lambda: secrets.token_urlsafe(48))
    if len(key) < 32:
        raise ConfigError(f"{variable}: the kept key in {instance_path / name} is damaged "
                          f"(shorter than 32 characters){remedy}")
    return key


def _kept_secret(instance_path: Path, name: str, generate) -> str:
    """A secret generated on first run and kept in the instance folder.

    It is written in full to a private temporary file and then linked into place, which
    fails if another process got there first; so no process ever reads a partly written
    secret, and all processes of one instance agree on it.
    """
    path = instance_path / name
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=instance_path, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
                handle.write(generate())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process of the same instance won the race; use its secret
        finally:
            os.unlink(temporary)
    return path.read_text().strip()
