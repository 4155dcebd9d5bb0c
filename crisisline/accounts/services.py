"""Users and credentials: creating, signing in and out, disabling, API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from limits import parse
from sqlalchemy import delete, select, update

from crisisline import audit
from crisisline.accounts import passwords
from crisisline.accounts.models import (REPORTER_UNITS, ApiToken, Membership, Organisation,
                                        OrgKind, ReporterIdentity, Role, SchoolUnit,
                                        SignInLink, Team, TeamMember, UnitKind, User,
                                        UserSession)
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, InvalidInput, NotFound
from crisisline.i18n import IDENTITY_LABELS, ROLE_LABELS, UNIT_KIND_LABELS
from crisisline.messages import listing
from crisisline.rate_limits import hit
from crisisline.validation import PhoneNumberError, name_problem, phone_number

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
    outcomes are audited. (A user with two-factor sign-in is checked with
    :func:`check_credentials` and signed in after the code: see the sign-in view.)"""
    user = check_credentials(username, password)
    return start_session(user, address) if user is not None else None


def check_credentials(username: str, password: str) -> User | None:
    """The active user whose username and password these are, or None (audited as a failed
    sign-in)."""
    user = User.by_username(username.strip()) if username else None
    if check_password(user, password or "") and user.is_active:
        return user
    audit.record("auth.login_failed", outcome=audit.FAILURE, object_type="user",
                 object_id=user.id if user else None,
                 changes={"username": {"new": (username or "")[:80]}})
    return None


def start_session(user: User, address: str | None, *, via: str | None = None) -> User:
    """Start a server-side session for ``user`` (audited); its key is ``user.session_key``."""
    key = secrets.token_urlsafe(32)
    record = UserSession(user_id=user.id, key_hash=_token_hash(key),
                         source_address=(address or "")[:64] or None)
    db.add(record)
    db.flush()
    changes = {"session": {"new": record.id}}
    if via:
        changes["via"] = {"new": via}
    audit.record("auth.login", user, actor=user, changes=changes)
    user.session_key = key
    return user


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
                organisation_codes: list[str] = (), phone: str | None = None,
                unit: str = "", identity: str = "", languages=("zh",),
                team: str = "") -> User:
    """Create a user with a chosen password (the command line, the demo), under the same
    rules as the admin page (:func:`create_staff`); nothing is created if anything is
    wrong."""
    details, errors = details_with_codes(
        username, role, organisation_codes, display_name=display_name, phone=phone,
        unit=unit, identity=identity, languages=languages, team=team)
    user, _secret = create_staff(username, details, password=password, errors=errors)
    return user


def details_with_codes(username: str, role: str, organisation_codes, *,
                       display_name: str | None = None, phone: str | None = None,
                       unit: str = "", identity: str = "", languages=("zh",),
                       team: str = "") -> tuple[StaffDetails, dict]:
    """StaffDetails from the command line, which may name several organisations (each is
    checked; a user has one), and the problems found so far."""
    codes = [code for code in organisation_codes if code]
    errors = {}
    if unknown := [code for code in codes if Organisation.by_code(code) is None]:
        errors["organisation"] = _l("unknown organisation '%(code)s'", code=unknown[0])
    elif len(codes) > 1:
        errors["organisation"] = _l("a user belongs to one organisation")
    return StaffDetails(display_name=display_name or (username or "").strip(), role=role,
                        organisation=codes[0] if codes else "", unit=unit or "",
                        identity=identity or "", phone=phone or "",
                        languages=tuple(languages), team=team or ""), errors


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


# -- staff: who they are and where they work ------------------------------------------------

CENTRE_ROLES = (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR)
TWO_FACTOR_ROLES = (Role.SUPERVISOR, Role.ADMIN)
CONTACT_LANGUAGES = ("zh", "en")
CREDENTIALS = ("link", "password")
SIGN_IN_LINK_HOURS = 24
# a TOTP code is accepted one 30-second step early or late (clocks drift), and only once
TOTP_WINDOW = 1
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


@dataclass(frozen=True)
class StaffDetails:
    """What an administrator says about a staff member, as plain values: typed on the admin
    page, sent to the API, given on the command line or read from an import file."""

    display_name: str = ""
    role: str = ""
    organisation: str = ""  # the organisation's code
    unit: str = ""  # a unit's path in that school, e.g. "计算机学院/2023级1班"
    identity: str = ""  # a ReporterIdentity value
    phone: str = ""
    languages: tuple[str, ...] = ("zh",)
    team: str = ""  # the name of a team of the user's centre


@dataclass
class Placement:
    """StaffDetails checked and resolved to records."""

    display_name: str
    role: Role
    organisation: Organisation | None
    unit: SchoolUnit | None
    identity: ReporterIdentity | None
    phone: str | None
    languages: str
    team: Team | None


def units_by_path(school_id: int) -> dict[str, SchoolUnit]:
    """A school's units keyed by their path ("计算机学院/2023级1班")."""
    units = db.scalars(select(SchoolUnit).where(SchoolUnit.school_id == school_id)).all()
    return {unit.path: unit for unit in units}


def _unit_path(raw: str) -> str:
    return "/".join(part.strip() for part in re.split(r"[/／]", raw) if part.strip())


def check_staff(details: StaffDetails, errors: dict | None = None
                ) -> tuple[Placement | None, dict]:
    """Check that a person with these details can do their job: a hotline volunteer,
    counselor or supervisor belongs to a hotline centre (and may be on one of its teams); a
    hospital liaison to a hospital; a school reporter to a school, with an identity and a
    unit of that school that fits it (a psychology centre teacher to the whole school).
    Returns the resolved placement, or None and every problem, keyed by field."""
    errors = dict(errors or {})
    name = (details.display_name or "").strip()
    if not name:
        errors.setdefault("display_name", _l("enter the person's name"))
    elif len(name) > 120:
        errors.setdefault("display_name", _l("at most %(n)d characters", n=120))
    elif (problem := name_problem(name)) is not None:
        errors.setdefault("display_name", problem)
    role = None
    try:
        role = Role((details.role or "").strip())
    except ValueError:
        errors.setdefault("role", _l("unknown role '%(role)s'", role=details.role))
    organisation = None
    code = (details.organisation or "").strip()
    if code:
        organisation = Organisation.by_code(code)
        if organisation is None:
            errors.setdefault("organisation", _l("unknown organisation '%(code)s'", code=code))
    identity = None
    if (details.identity or "").strip():
        try:
            identity = ReporterIdentity(details.identity.strip())
        except ValueError:
            errors.setdefault("identity", _l("unknown reporter identity '%(name)s'",
                                             name=details.identity))
    phone = None
    if (details.phone or "").strip():
        try:
            phone = phone_number(details.phone, service_numbers=False)
        except PhoneNumberError as unreadable:
            errors.setdefault("phone", unreadable.message)
    languages = [code.strip() for code in details.languages if code and code.strip()]
    if not languages:
        errors.setdefault("languages", _l("choose at least one language: zh or en"))
    elif bad := [code for code in languages if code not in CONTACT_LANGUAGES]:
        errors.setdefault("languages", _l("unknown language '%(code)s': zh or en",
                                          code=bad[0]))
    unit = team = None
    if role is not None and "organisation" not in errors:
        unit, team = _check_place(role, organisation, identity, details, errors)
    if errors:
        return None, errors
    ordered = [code for code in CONTACT_LANGUAGES if code in languages]
    return Placement(display_name=name, role=role, organisation=organisation, unit=unit,
                     identity=identity, phone=phone, languages=",".join(ordered),
                     team=team), errors


def _check_place(role: Role, organisation: Organisation | None,
                 identity: ReporterIdentity | None, details: StaffDetails, errors: dict):
    """The unit and team the details name, checking that they fit the role; problems go
    into ``errors``."""
    role_name = ROLE_LABELS[role.value]
    kind = organisation.kind if organisation is not None else None
    path, team_name = _unit_path(details.unit or ""), (details.team or "").strip()
    unit = team = None
    if role in CENTRE_ROLES and kind != OrgKind.HOTLINE_CENTRE:
        errors["organisation"] = _l("%(role)s must belong to a hotline centre: choose one",
                                    role=role_name)
    elif role == Role.HOSPITAL_LIAISON and kind != OrgKind.HOSPITAL:
        errors["organisation"] = _l("%(role)s must belong to a hospital: choose one",
                                    role=role_name)
    elif role == Role.REPORTER and kind != OrgKind.SCHOOL:
        errors["organisation"] = _l("%(role)s must belong to a school: choose one",
                                    role=role_name)
    if role != Role.REPORTER:
        if identity is not None:
            errors.setdefault("identity", _l("only school reporters have a reporter "
                                             "identity: leave it empty"))
        if path:
            errors.setdefault("unit", _l("only school reporters belong to a unit of a "
                                         "school: leave it empty"))
    elif identity is None:
        errors.setdefault("identity", _l("choose the reporter's identity in the school "
                                         "network"))
    elif kind == OrgKind.SCHOOL:
        unit = _check_unit(organisation, identity, path, errors)
    if team_name:
        if role not in CENTRE_ROLES:
            errors.setdefault("team", _l("only hotline centre staff are on a team: leave it "
                                         "empty"))
        elif kind == OrgKind.HOTLINE_CENTRE:
            team = db.scalar(select(Team).where(Team.centre_id == organisation.id,
                                                Team.name == team_name))
            if team is None:
                errors.setdefault("team", _l("%(centre)s has no team '%(name)s'",
                                             centre=organisation.name, name=team_name))
    return unit, team


def _check_unit(school: Organisation, identity: ReporterIdentity, path: str,
                errors: dict) -> SchoolUnit | None:
    fits = REPORTER_UNITS[identity]
    who = IDENTITY_LABELS[identity.value]
    if None in fits:
        if path:
            errors.setdefault("unit", _l("%(identity)s belongs to the whole school: leave "
                                         "the unit empty", identity=who))
        return None
    kinds = listing([UNIT_KIND_LABELS[kind.value] for kind in UnitKind if kind in fits])
    if not path:
        errors.setdefault("unit", _l("%(identity)s needs a unit of the school (%(kinds)s)",
                                     identity=who, kinds=kinds))
        return None
    unit = units_by_path(school.id).get(path)
    if unit is None:
        errors.setdefault("unit", _l("%(school)s has no unit '%(path)s'", school=school.name,
                                     path=path))
    elif unit.kind not in fits:
        errors.setdefault("unit", _l("%(identity)s cannot belong to a %(kind)s; choose a "
                                     "%(kinds)s", identity=who,
                                     kind=UNIT_KIND_LABELS[unit.kind.value], kinds=kinds))
    return unit


def check_username(username: str) -> str | None:
    """What is wrong with a new username, or None."""
    if not USERNAME.match(username or ""):
        return _l("letters, digits, '.', '_' and '-' only, at most 80 characters")
    if User.by_username(username) is not None:
        return _l("a user named '%(name)s' exists already", name=username)
    return None


def details_of(user: User) -> StaffDetails:
    """What the admin page shows of ``user`` to edit."""
    membership = user.memberships[0] if user.memberships else None
    team = _team_of(user)
    return StaffDetails(
        display_name=user.display_name, role=user.role.value,
        organisation=membership.organisation.code if membership else "",
        unit=membership.unit.path if membership and membership.unit else "",
        identity=user.reporter_identity.value if user.reporter_identity else "",
        phone=user.phone or "", languages=tuple((user.languages or "zh").split(",")),
        team=team.name if team else "")


def _team_of(user: User) -> Team | None:
    return db.scalar(select(Team).join(TeamMember, TeamMember.team_id == Team.id)
                     .where(TeamMember.user_id == user.id).order_by(Team.id))


def create_staff(username: str, details: StaffDetails, *, credential: str = "link",
                 password: str | None = None, errors: dict | None = None
                 ) -> tuple[User, str | None]:
    """Create a staff member who can do their job (see :func:`check_staff`), with either a
    chosen ``password`` or a first sign-in of the kind ``credential`` ("link": a one-time
    sign-in link, "password": a temporary password). Returns the user and the link or
    temporary password, to be shown once (None with a chosen password). Nothing is created
    if anything is wrong; audited."""
    errors = dict(errors or {})
    username = (username or "").strip()
    if (problem := check_username(username)) is not None:
        errors.setdefault("username", problem)
    if password is not None:
        if (weakness := passwords.problem(password, username)) is not None:
            errors.setdefault("password", weakness)
    elif credential not in CREDENTIALS:
        errors.setdefault("credential", _l("choose a one-time sign-in link or a temporary "
                                           "password"))
    place, errors = check_staff(details, errors)
    if errors:
        raise InvalidInput(errors)
    user = User(username=username, display_name=place.display_name, role=place.role,
                password_hash=hash_password(password or secrets.token_urlsafe(32)),
                phone=place.phone, languages=place.languages,
                reporter_identity=place.identity,
                must_change_password=password is None)
    if place.organisation is not None:
        user.memberships = [Membership(organisation=place.organisation, unit=place.unit)]
    db.add(user)
    changes = audit.diff(user) | {
        "organisations": {"new": [place.organisation.code] if place.organisation else []}}
    if place.unit is not None:
        changes["unit"] = {"new": place.unit.path}
    if place.team is not None:
        changes["team"] = {"new": place.team.name}
    audit.record("user.create", user, changes=changes)
    db.flush()
    if place.team is not None:
        db.add(TeamMember(team_id=place.team.id, user_id=user.id))
    secret = None if password is not None else _first_sign_in(user, credential)
    return user, secret


def update_staff(user_id: int, details: StaffDetails) -> bool:
    """Change a staff member's name, role, place, identity, phone, languages or team, if
    they can still do their job afterwards (:func:`check_staff`); nothing changes
    otherwise. Whether anything changed (nothing is audited when nothing did)."""
    user = _user(user_id)
    place, errors = check_staff(details)
    if errors:
        raise InvalidInput(errors)
    before = details_of(user)
    user.display_name, user.role, user.phone = place.display_name, place.role, place.phone
    user.languages, user.reporter_identity = place.languages, place.identity
    changes = audit.diff(user)
    membership = user.memberships[0] if user.memberships else None
    new_code = place.organisation.code if place.organisation else ""
    if before.organisation != new_code or len(user.memberships) > 1:
        for old in list(user.memberships):  # gone before the new one (one per organisation)
            user.memberships.remove(old)
        db.flush()
        if place.organisation is not None:
            user.memberships.append(Membership(organisation=place.organisation,
                                               unit=place.unit))
        changes["organisation"] = {"old": before.organisation or None,
                                   "new": new_code or None}
    elif membership is not None and membership.unit_id != (place.unit.id if place.unit
                                                           else None):
        membership.unit = place.unit
    new_unit = place.unit.path if place.unit else ""
    if before.unit != new_unit:
        changes["unit"] = {"old": before.unit or None, "new": new_unit or None}
    new_team = place.team.name if place.team else ""
    current = set(db.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))
    wanted = {place.team.id} if place.team else set()
    if current != wanted:
        db.execute(delete(TeamMember).where(TeamMember.user_id == user.id))
        db.flush()
        if place.team is not None:
            db.add(TeamMember(team_id=place.team.id, user_id=user.id))
        changes["team"] = {"old": before.team or None, "new": new_team or None}
    if not changes:
        return False
    audit.record("user.update", user, changes=changes)
    return True


def enable_user(user_id: int) -> User:
    """Let a disabled user sign in again (their old sessions and API tokens stay ended)."""
    user = _user(user_id)
    if user.disabled_at is None:
        raise Conflict(_l("%(name)s is not disabled", name=user.username))
    user.disabled_at = None
    audit.record("user.enable", user, changes=audit.diff(user))
    return user


def reset_sign_in(user_id: int, credential: str, *, turn_off_two_factor: bool = False) -> str:
    """Give a user a new first sign-in (a one-time link or a temporary password) in place of
    their password: the old password stops working and their sessions end. With
    ``turn_off_two_factor`` (a lost phone), their TOTP is removed too. The link or
    password, to be shown once."""
    user = _user(user_id)
    if credential not in CREDENTIALS:
        raise InvalidInput({"credential": _l("choose a one-time sign-in link or a temporary "
                                             "password")})
    if not user.is_active:
        raise Conflict(_l("%(name)s is disabled", name=user.username))
    ended = _end_sessions(user, "reset")
    if turn_off_two_factor and user.totp_secret is not None:
        user.totp_secret, user.totp_enabled_at = None, None
        audit.record("user.two_factor_disable", user, changes=audit.diff(user))
    secret = _first_sign_in(user, credential)
    if ended:
        audit.record("user.sessions_end", user, changes={"sessions": {"new": ended}})
    return secret


def _first_sign_in(user: User, credential: str) -> str:
    """Replace ``user``'s password by a one-time link or a temporary password (audited);
    earlier unused links stop working. The link or password."""
    now = utcnow()
    for link in db.scalars(select(SignInLink).where(SignInLink.user_id == user.id,
                                                    SignInLink.used_at.is_(None),
                                                    SignInLink.expires_at > now)):
        link.expires_at = now  # replaced
    user.must_change_password = True
    if credential == "password":
        secret = passwords.generate()
        user.password_hash = hash_password(secret)
        audit.record("user.temporary_password", user, changes=audit.diff(user))
        return secret
    # nobody knows this password: the link is the only way in until they set their own
    user.password_hash = hash_password(secrets.token_urlsafe(32))
    token = secrets.token_urlsafe(32)
    db.add(SignInLink(user=user, token_hash=_token_hash(token), created_at=now,
                      expires_at=now + timedelta(hours=SIGN_IN_LINK_HOURS)))
    audit.record("user.sign_in_link", user, changes=audit.diff(user) | {
        "expires_at": {"new": (now + timedelta(hours=SIGN_IN_LINK_HOURS)).isoformat()}})
    return sign_in_url(token)


def sign_in_url(token: str) -> str:
    return f"{current_app.config['PUBLIC_URL']}/sign-in/{token}"


def sign_in_link_user(token: str) -> User | None:
    """The active user a sign-in link is for, while it is unused and unexpired (not used
    up: see :func:`use_sign_in_link`)."""
    link = _sign_in_link(token)
    return link.user if link is not None else None


def _sign_in_link(token: str) -> SignInLink | None:
    if not token or len(token) > 100:
        return None
    link = db.scalar(select(SignInLink).where(SignInLink.token_hash == _token_hash(token)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow() \
            or not link.user.is_active:
        return None
    return link


def use_sign_in_link(token: str) -> User | None:
    """Use up a one-time sign-in link: its user (who must then set a password), or None
    when the link is unknown, used, expired or replaced. Both are audited."""
    link = _sign_in_link(token)
    if link is None:
        audit.record("auth.sign_in_link_refused", outcome=audit.FAILURE, object_type="user")
        return None
    link.used_at = utcnow()
    link.user.must_change_password = True
    audit.record("auth.sign_in_link_used", link.user, actor=link.user)
    return link.user


def change_password(user_id: int, new: str, again: str, current: str | None = None, *,
                    keep_session_id: int | None = None) -> User:
    """Set a user's own new password. Unless they must change it (after a temporary
    password or a sign-in link), their current password is checked. Their other sessions
    end. Audited, without the values."""
    user = _user(user_id)
    errors = {}
    if not user.must_change_password and not check_password(user, current or ""):
        errors["current_password"] = _l("this is not your current password")
    if (weakness := passwords.problem(new or "", user.username)) is not None:
        errors["new_password"] = weakness
    elif user.must_change_password and check_password(user, new):
        errors["new_password"] = _l("choose a password of your own, not the temporary one")
    if (new or "") != (again or ""):
        errors["new_password_again"] = _l("the two new passwords differ")
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record("user.password_change", user, actor=user, changes=audit.diff(user))
    _end_sessions(user, "password_change", keep=keep_session_id)
    return user


def _end_sessions(user: User, reason: str, keep: int | None = None) -> int:
    query = update(UserSession).where(UserSession.user_id == user.id,
                                      UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    return db.execute(query.values(ended_at=utcnow(), end_reason=reason)).rowcount or 0


def _user(user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(_l("no such user"))
    return user


# -- two-factor sign-in (TOTP) -----------------------------------------------------------

def two_factor_required(user: User) -> bool:
    """Whether ``user`` must set up two-factor sign-in before doing anything else."""
    return bool(current_app.config.get("REQUIRE_2FA")) and user.role in TWO_FACTOR_ROLES \
        and user.totp_enabled_at is None


def start_two_factor(user_id: int) -> str:
    """Give a supervisor or administrator a new TOTP secret to add to their authenticator
    app; it works once they confirm it with a code (:func:`confirm_two_factor`)."""
    user = _user(user_id)
    if user.role not in TWO_FACTOR_ROLES:
        raise Forbidden(_l("only supervisors and administrators use two-factor sign-in"))
    if user.totp_enabled_at is not None:
        raise Conflict(_l("two-factor sign-in is already on"))
    user.totp_secret = pyotp.random_base32()
    audit.record("user.two_factor_start", user, actor=user, changes=audit.diff(user))
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or typed)."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username,
                                                       issuer_name="Crisisline")


def confirm_two_factor(user_id: int, code: str) -> User:
    """Turn two-factor sign-in on, once the code shows the app has the secret."""
    user = _user(user_id)
    if user.totp_secret is None or user.totp_enabled_at is not None:
        raise Conflict(_l("start setting up two-factor sign-in first"))
    if not code_is_right(user, code):
        raise InvalidInput({"totp_code": _l("the code is not right: enter the one your "
                                       "authenticator app shows now")})
    user.totp_enabled_at = utcnow()
    audit.record("user.two_factor_enable", user, actor=user, changes=audit.diff(user))
    return user


def turn_off_two_factor(user_id: int, code: str) -> User:
    """Turn one's own two-factor sign-in off (with a current code), where it is not
    required."""
    user = _user(user_id)
    if user.totp_enabled_at is None:
        raise Conflict(_l("two-factor sign-in is not on"))
    if current_app.config.get("REQUIRE_2FA") and user.role in TWO_FACTOR_ROLES:
        raise Forbidden(_l("two-factor sign-in is required for your role"))
    if not code_is_right(user, code):
        raise InvalidInput({"totp_code": _l("the code is not right: enter the one your "
                                       "authenticator app shows now")})
    user.totp_secret, user.totp_enabled_at = None, None
    audit.record("user.two_factor_disable", user, actor=user, changes=audit.diff(user))
    return user


def code_is_right(user: User, code: str) -> bool:
    """Whether ``code`` is ``user``'s current TOTP code (one step of drift allowed), not
    used before: a code seen once is refused until it has expired."""
    code = re.sub(r"\s", "", code or "")
    if user.totp_secret is None or not re.fullmatch(r"\d{6}", code):
        return False
    totp, now = pyotp.TOTP(user.totp_secret), utcnow()
    for step in range(-TOTP_WINDOW, TOTP_WINDOW + 1):
        moment = now + timedelta(seconds=step * totp.interval)
        if secrets.compare_digest(totp.at(moment), code):
            # remembered for longer than the code is accepted, in the rate limits' storage
            # (Redis when configured, so every process knows it)
            return hit(parse("1 per 5 minutes"), "totp-used", str(user.id),
                       str(totp.timecode(moment)))
    return False
