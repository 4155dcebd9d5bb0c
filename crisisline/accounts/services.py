"""Users and credentials: creating, authenticating, disabling, API tokens."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crisisline import audit
from crisisline.accounts.models import ApiToken, Membership, Organisation, Role, User
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, InvalidInput, NotFound

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("timing equaliser for unknown users")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "cl_"


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


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None; failures are audited."""
    user = User.by_username(username.strip()) if username else None
    if check_password(user, password or "") and user.is_active:
        audit.record("auth.login", user, actor=user)
        return user
    audit.record("auth.login_failed", outcome=audit.FAILURE, object_type="user",
                 object_id=user.id if user else None,
                 changes={"username": {"new": (username or "")[:80]}})
    return None


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
    try:
        role_value = Role(role)
    except ValueError:
        errors["role"] = _l("unknown role '%(role)s'", role=role)
    if len(password or "") < MIN_PASSWORD_LENGTH:
        errors["password"] = _l("at least %(n)d characters", n=MIN_PASSWORD_LENGTH)
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
    user.session_generation += 1
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
    record = ApiToken(user_id=user.id, token_hash=_token_hash(token), prefix=token[:8])
    db.add(record)
    audit.record("api_token.create", record, changes={"user": {"new": user.username},
                                                      "prefix": {"new": record.prefix}})
    return token


def user_for_token(token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    record = db.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if record is None or record.revoked_at is not None or not record.user.is_active:
        return None
    return record.user


def _token_hash(token: str) -> str:
    # tokens carry 256 bits of randomness, so a fast hash is enough to make a leak useless
    return hashlib.sha256(token.encode()).hexdigest()
