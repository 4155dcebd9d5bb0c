"""Break-the-glass: time-boxed, reasoned, audited access beyond a user's own scope.

The rules a grant follows (README "Security"):

- only counselors and supervisors, and only on a record of their own centre;
- a reason of at least ``MIN_REASON_LENGTH`` visible characters (invisible, control and
  blank characters do not count);
- one active grant per user and record: asking again while one is active returns it;
- at most the policy's ``break_glass_per_hour`` grants per person in any hour: the grant
  that reaches the limit alerts the centre's supervisors, further requests are refused;
- a grant a supervisor found unjustified ends at once, and the same user cannot open that
  record again until a supervisor allows it again.
"""
from __future__ import annotations

import unicodedata
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from casework.alerts import BREAK_GLASS_LIMIT, raise_alerts
from casework.models import Case
from casework.policy import policy
from crisisline import audit
from crisisline.access.models import BreakGlassGrant
from crisisline.access.rules import (BREAK_GLASS_ROLES, RECORD_TYPES, VIEW, can, in_scope,
                                     may_break_glass)
from crisisline.accounts.models import Membership, Role, User
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from crisisline.i18n import RECORD_LABELS, label
from crisisline.realtime import emit_after_commit, supervisors_room
from hotline.models import Contact

MIN_REASON_LENGTH = 10
OUTCOMES = ("justified", "unjustified")
# what a reason's visible length leaves out: control, format (zero-width, bidi), private,
# unassigned and surrogate code points, separators
_INVISIBLE = ("C", "Z")


def load_record(object_type: str, object_id: int):
    model = RECORD_TYPES.get(object_type)
    if model is None:
        raise InvalidInput({"object_type": _l("not a kind of record that can be opened")})
    obj = db.get(model, object_id)
    if obj is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=label(RECORD_LABELS,
                                                                          object_type),
                          id=object_id))
    return obj


def visible_length(text: str) -> int:
    """How many characters of ``text`` a reader sees."""
    return sum(1 for char in text if not char.isspace()
               and not unicodedata.category(char).startswith(_INVISIBLE))


def break_glass(user: User, object_type: str, object_id: int, reason: str
                ) -> tuple[BreakGlassGrant, bool]:
    """Open one record of the user's centre outside their scope for a limited time, for a
    stated reason; returns the grant and whether it is new (an active one is returned as
    it is)."""
    if user.role not in BREAK_GLASS_ROLES:  # the refusal is audited by the error handler
        raise Forbidden(_l("only counselors and supervisors may break the glass"),
                        object_type=object_type, object_id=object_id)
    reason = (reason or "").strip()
    if visible_length(reason) < MIN_REASON_LENGTH:
        raise InvalidInput({"reason": _l("give a reason of at least %(n)d visible characters",
                                         n=MIN_REASON_LENGTH)})
    obj = load_record(object_type, object_id)
    if in_scope(user, VIEW, obj):
        raise InvalidInput({"object_id": _l("this record is already in your scope")})
    if not may_break_glass(user, obj):
        raise Forbidden(_l("you may break the glass only on records of your own centre; "
                           "ask that centre's supervisors"),
                        object_type=object_type, object_id=obj.id)
    # one request at a time per user: the checks below and the insert cannot interleave
    db.scalar(select(User.id).where(User.id == user.id).with_for_update())
    grants = select(BreakGlassGrant).where(BreakGlassGrant.user_id == user.id,
                                           BreakGlassGrant.object_type == object_type,
                                           BreakGlassGrant.object_id == obj.id)
    now = utcnow()
    active = db.scalar(grants.where(BreakGlassGrant.expires_at > now)
                       .order_by(BreakGlassGrant.id.desc()).limit(1))
    if active is not None:
        return active, False
    if db.scalar(grants.where(BreakGlassGrant.review_outcome == "unjustified",
                              BreakGlassGrant.allowed_again_at.is_(None)).limit(1)):
        raise Forbidden(_l("a supervisor found your earlier access to this record "
                           "unjustified; a supervisor must allow it again first"),
                        object_type=object_type, object_id=obj.id)
    limit = policy().break_glass_per_hour
    recent = db.scalar(select(func.count(BreakGlassGrant.id)).where(
        BreakGlassGrant.user_id == user.id,
        BreakGlassGrant.created_at > now - timedelta(hours=1)))
    if recent >= limit:
        raise RateLimited(_l("you have broken the glass %(n)d times in the last hour; ask "
                             "a supervisor", n=limit), object_type=object_type,
                          object_id=obj.id)
    minutes = current_app.config["BREAK_GLASS_MINUTES"]
    grant = BreakGlassGrant(user_id=user.id, object_type=object_type, object_id=obj.id,
                            reason=reason, created_at=now,
                            expires_at=now + timedelta(minutes=minutes))
    db.add(grant)
    for centre_id in user.centre_ids:
        emit_after_commit("alert.raised", {"kind": "break_glass", "user": user.username,
                                           "object_type": object_type},
                          room=supervisors_room(centre_id))
    audit.record("break_glass.open", grant, changes={
        "object_type": {"new": object_type}, "object_id": {"new": obj.id},
        "reason": {"new": reason}, "expires_at": {"new": grant.expires_at.isoformat()}})
    if recent + 1 == limit:
        _alert_limit_reached(user, obj)
    return grant, True


def _alert_limit_reached(user: User, obj) -> None:
    """The grant that reaches the hourly limit: every supervisor of the user's centres is
    alerted (an alert of their own, linking the reviews and the record, and live)."""
    supervisors = db.scalars(select(User).join(Membership).where(
        Membership.organisation_id.in_(user.centre_ids), User.role == Role.SUPERVISOR,
        User.id != user.id, User.disabled_at.is_(None)).distinct()).all()
    raise_alerts(BREAK_GLASS_LIMIT, supervisors,
                 case_id=obj.id if isinstance(obj, Case) else None,
                 contact_id=obj.id if isinstance(obj, Contact) else None)
    audit.record("break_glass.limit_reached", user, changes={
        "supervisors": {"new": [supervisor.username for supervisor in supervisors]}})


def pending_reviews(reviewer: User) -> list[BreakGlassGrant]:
    """Grants that wait for ``reviewer``'s review, oldest first."""
    grants = db.scalars(select(BreakGlassGrant).where(BreakGlassGrant.reviewed_at.is_(None))
                        .order_by(BreakGlassGrant.created_at))
    return [grant for grant in grants if can(reviewer, VIEW, grant)]


def shut_grants(reviewer: User) -> list[BreakGlassGrant]:
    """Grants found unjustified whose record stays shut to their user until ``reviewer``
    (or another supervisor of the centre) allows it again, newest first."""
    grants = db.scalars(select(BreakGlassGrant).where(
        BreakGlassGrant.review_outcome == "unjustified",
        BreakGlassGrant.allowed_again_at.is_(None)).order_by(BreakGlassGrant.id.desc()))
    return [grant for grant in grants if can(reviewer, VIEW, grant)]


def _reviewable(reviewer: User, grant_id: int) -> BreakGlassGrant:
    grant = db.get(BreakGlassGrant, grant_id)
    if grant is None:
        raise NotFound(_l("%(record)s %(id)s does not exist",
                          record=RECORD_LABELS["break_glass_grant"], id=grant_id))
    if not can(reviewer, "edit", grant):
        raise Forbidden(_l("you may not review this grant"), object_type="break_glass_grant",
                        object_id=grant.id)
    return grant


def review_break_glass(reviewer: User, grant_id: int, outcome: str, note: str) -> BreakGlassGrant:
    grant = _reviewable(reviewer, grant_id)
    errors = {}
    if outcome not in OUTCOMES:
        errors["outcome"] = _l("choose justified or unjustified")
    if not (note or "").strip():
        errors["note"] = _l("a review note is required")
    if errors:
        raise InvalidInput(errors)
    if grant.reviewed_at is not None:
        raise InvalidInput({"grant": _l("this grant was already reviewed")})
    grant.reviewed_by_id, grant.reviewed_at = reviewer.id, utcnow()
    grant.review_outcome, grant.review_note = outcome, note.strip()
    if outcome == "unjustified":
        grant.expires_at = min(grant.expires_at, grant.reviewed_at)
    audit.record("break_glass.review", grant, changes=audit.diff(grant))
    return grant


def allow_again(reviewer: User, grant_id: int) -> BreakGlassGrant:
    """A supervisor lets the user of a grant found unjustified break the glass on its
    record again (a new grant, with a new reason and review)."""
    grant = _reviewable(reviewer, grant_id)
    if grant.review_outcome != "unjustified" or grant.allowed_again_at is not None:
        raise Conflict(_l("only a grant found unjustified, and not yet allowed again, can be "
                          "allowed again"))
    grant.allowed_again_by_id, grant.allowed_again_at = reviewer.id, utcnow()
    audit.record("break_glass.allow_again", grant, changes=audit.diff(grant))
    return grant


def open_record(user: User, object_type: str, object_id: int, *, part: str | None = None):
    """Load a record for ``user`` to read, or raise Forbidden: every read of a case,
    contact, student, referral or school report goes through here, and is audited (marked
    ``via="break_glass"`` when only a grant allows it; ``part`` names what of it was read,
    e.g. a case's history).

    Refusals are audited by the error handler, after the request's rollback.
    """
    obj = load_record(object_type, object_id)
    if not can(user, VIEW, obj):
        raise Forbidden(_l("you may not open this %(record)s",
                           record=label(RECORD_LABELS, object_type)), object_type=object_type,
                        object_id=obj.id, break_glass_allowed=may_break_glass(user, obj))
    audit.record_read(obj, via=None if in_scope(user, VIEW, obj) else "break_glass",
                      part=part)
    return obj
