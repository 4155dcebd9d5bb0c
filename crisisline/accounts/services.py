"""Users and credentials: creating, signing in and out, disabling, API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from crisisline import audit
from crisisline.accounts import passwords
from crisisline.accounts.models import (ApiToken, Membership, Organisation, Role, User,
                                        UserSession)
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.validation import name_problem

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("timing equaliser for unknown users")
TOKEN_PREFIX = "cl_"
# a session's last_seen_at and a token's last_used_at are written at most this often, not
# on every request
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Constant-shape check: an unknown user costs the same as a wrong password."""
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if ok and user is not None and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return ok and user is not None


def sign_in(username: str, password: str, address: str | None) -> User | None:
    """Check the credentials and start a server-side session for them: the user, whose
    ``session_key`` (what the cookie carries) names the new session, or None. Both
    outcomes are audited."""
    user = User.by_username(username.strip()) if username else None
    if check_password(user, password or "") and user.is_active:
        key = secrets.token_urlsafe(32)
        record = UserSession(user_id=user.id, key_hash=_token_hash(key),
                             source_address=(address or "")[:64] or None)
        db.add(record)
        db.flush()
        audit.record("auth.login", user, actor=user, changes={"session": {"new": record.id}})
        user.session_key = key
        return user
    audit.record("auth.login_failed", outcome=audit.FAILURE, object_type="user",
                 object_id=user.id if user else None,
                 changes={"username": {"new": (username or "")[:80]}})
    return None


def session_for_key(key: str) -> UserSession | None:
    """The session a cookie's key names, while it has not ended and its user is active."""
    record = db.scalar(select(UserSession).where(UserSession.key_hash == _token_hash(key)))
    if record is None or record.ended_at is not None or not record.user.is_active:
        return None
    return record


def note_seen(record: UserSession) -> bool:
    """Note that ``record`` was used now, if it was not noted within the last minute; says
    whether it was (the caller commits)."""
    now = utcnow()
    if now - record.last_seen_at < TOUCH_INTERVAL:
        return False
    record.last_seen_at = now
    return True


def sign_out(session_id: int) -> None:
    """End one session: every copy of its cookie stops working; the user's other sessions
    go on. Audited."""
    record = db.get(UserSession, session_id)
    if record is None or record.ended_at is not None:
        return
    record.ended_at, record.end_reason = utcnow(), "sign_out"
    audit.record("auth.logout", record.user, actor=record.user,
                 changes={"session": {"new": record.id}})


def create_user(username: str, role: str, password: str, *, display_name: str | None = None,
                organisation_codes: list[str] = (), phone: str | None = None) -> User:
    """Create a user with memberships; nothing is created if anything is wrong."""
    errors = {}
    username = (username or "").strip()
    if not username or len(username) > 80 or not username.replace("_", "").replace(".", "")\
            .replace("-", "").isalnum():
        errors["username"] = _l("letters, digits, '.', '_' and '-' only, at most 80 "
                                "characters")
    elif User.by_username(username) is not None:
        errors["username"] = _l("a user named '%(name)s' exists already", name=username)
    if name_problem(display_name or "") is not None:
        errors["display_name"] = name_problem(display_name)
    try:
        role_value = Role(role)
    except ValueError:
        errors["role"] = _l("unknown role '%(role)s'", role=role)
    if (weakness := passwords.problem(password or "", username)) is not None:
        errors["password"] = weakness
    organisations = []
    for code in organisation_codes:
        org = Organisation.by_code(code)
        if org is None:
            errors["org"] = _l("unknown organisation '%(code)s'", code=code)
        organisations.append(org)
    if errors:
        raise InvalidInput(errors)
    user = User(username=username, display_name=display_name or username, role=role_value,
                password_hash=hash_password(password), phone=phone)
    user.memberships = [Membership(organisation=org) for org in organisations]
    db.add(user)
    audit.record("user.create", user, changes=audit.diff(user) | {
        "organisations": {"new": list(organisation_codes)}})
    return user


def set_password(user: User, password: str) -> None:
    """Give ``user`` a new password, if it passes the rules (audited, without the value)."""
    if (weakness := passwords.problem(password or "", user.username)) is not None:
        raise InvalidInput({"password": weakness})
    user.password_hash = hash_password(password)
    audit.record("user.password_reset", user, changes=audit.diff(user))


def get_user(username: str) -> User:
    user = User.by_username(username)
    if user is None:
        raise NotFound(_l("no user named '%(name)s'", name=username))
    return user


def disable_user(username: str) -> User:
    """Disable a user: their browser sessions and API tokens stop working at once."""
    user = get_user(username)
    if user.disabled_at is not None:
        raise Conflict(_l("%(name)s is already disabled", name=username))
    user.disabled_at = utcnow()
    db.execute(update(UserSession).where(UserSession.user_id == user.id,
                                         UserSession.ended_at.is_(None))
               .values(ended_at=user.disabled_at, end_reason="user_disabled"))
    for token in db.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                   ApiToken.revoked_at.is_(None))):
        token.revoked_at = user.disabled_at
    audit.record("user.disable", user, changes=audit.diff(user))
    return user


def issue_token(username: str) -> str:
    """Create an API token; the token is returned once, only its hash is kept."""
    user = get_user(username)
    if not user.is_active:
        raise Conflict(_l("%(name)s is disabled", name=username))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    record = ApiToken(user_id=user.id, token_hash=_token_hash(token), prefix=token[:8],
                      created_at=now,
                      expires_at=now + timedelta(days=current_app.config["API_TOKEN_DAYS"]))
    db.add(record)
    audit.record("api_token.create", record, changes={
        "user": {"new": user.username}, "prefix": {"new": record.prefix},
        "expires_at": {"new": record.expires_at.isoformat()}})
    return token


def user_for_token(token: str, *, note_use: bool = False) -> User | None:
    """The active user of a token that is neither revoked nor expired, or None. With
    ``note_use``, its ``last_used_at`` is set if not set within the last minute (the caller
    commits)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    record = db.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    now = utcnow()
    if record is None or record.revoked_at is not None or record.expires_at <= now \
            or not record.user.is_active:
        return None
    if note_use and (record.last_used_at is None
                     or now - record.last_used_at >= TOUCH_INTERVAL):
        record.last_used_at = now
    return record.user


def tokens_of(username: str) -> list[ApiToken]:
    """A user's API tokens, newest first (never the tokens themselves: only prefixes)."""
    user = get_user(username)
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(prefix: str) -> ApiToken:
    """Revoke the one unrevoked token whose prefix is ``prefix``; the user's other tokens
    keep working. Audited."""
    matches = list(db.scalars(select(ApiToken).where(ApiToken.prefix == prefix,
                                                     ApiToken.revoked_at.is_(None))))
    if not matches:
        raise NotFound(_l("no API token in use starts with %(prefix)s", prefix=prefix))
    if len(matches) > 1:
        raise Conflict(_l("%(count)d tokens in use start with %(prefix)s; disable the user "
                          "to end them all", count=len(matches), prefix=prefix))
    record = matches[0]
    record.revoked_at = utcnow()
    audit.record("api_token.revoke", record, changes={
        "user": {"new": record.user.username}, "prefix": {"new": record.prefix}})
    return record


def _token_hash(token: str) -> str:
    # tokens carry 256 bits of randomness, so a fast hash is enough to make a leak useless
    return hashlib.sha256(token.encode()).hexdigest()
