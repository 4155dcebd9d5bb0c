"""Break-the-glass: time-boxed, reasoned, audited access beyond a user's own scope."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crisisline import audit
from crisisline.access.models import BreakGlassGrant
from crisisline.access.rules import BREAK_GLASS_ROLES, RECORD_TYPES, VIEW, can, in_scope
from crisisline.accounts.models import User
from crisisline.database import db, utcnow
from crisisline.errors import Forbidden, InvalidInput, NotFound
from crisisline.i18n import RECORD_LABELS, label
from crisisline.realtime import emit_after_commit, supervisors_room

MIN_REASON_LENGTH = 10
OUTCOMES = ("justified", "unjustified")


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


def break_glass(user: User, object_type: str, object_id: int, reason: str) -> BreakGlassGrant:
    """Open one record outside ``user``'s scope for a limited time, for a stated reason."""
    if user.role not in BREAK_GLASS_ROLES:  # the refusal is audited by the error handler
        raise Forbidden(_l("only counselors and supervisors may break the glass"),
                        object_type=object_type, object_id=object_id)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise InvalidInput({"reason": _l("give a reason of at least %(n)d characters",
                                         n=MIN_REASON_LENGTH)})
    obj = load_record(object_type, object_id)
    if in_scope(user, VIEW, obj):
        raise InvalidInput({"object_id": _l("this record is already in your scope")})
    minutes = current_app.config["BREAK_GLASS_MINUTES"]
    grant = BreakGlassGrant(user_id=user.id, object_type=object_type, object_id=obj.id,
                            reason=reason, expires_at=utcnow() + timedelta(minutes=minutes))
    db.add(grant)
    for centre_id in user.centre_ids:
        emit_after_commit("alert.raised", {"kind": "break_glass", "user": user.username,
                                           "object_type": object_type},
                          room=supervisors_room(centre_id))
    audit.record("break_glass.open", grant, changes={
        "object_type": {"new": object_type}, "object_id": {"new": obj.id},
        "reason": {"new": reason}, "expires_at": {"new": grant.expires_at.isoformat()}})
    return grant


def pending_reviews(reviewer: User) -> list[BreakGlassGrant]:
    """Grants that wait for ``reviewer``'s review, oldest first."""
    grants = db.scalars(select(BreakGlassGrant).where(BreakGlassGrant.reviewed_at.is_(None))
                        .order_by(BreakGlassGrant.created_at))
    return [grant for grant in grants if can(reviewer, VIEW, grant)]


def review_break_glass(reviewer: User, grant_id: int, outcome: str, note: str) -> BreakGlassGrant:
    grant = db.get(BreakGlassGrant, grant_id)
    if grant is None:
        raise NotFound(_l("%(record)s %(id)s does not exist",
                          record=RECORD_LABELS["break_glass_grant"], id=grant_id))
    if not can(reviewer, "edit", grant):
        raise Forbidden(_l("you may not review this grant"))
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


def open_record(user: User, object_type: str, object_id: int):
    """Load a record for ``user`` to read, or raise Forbidden; the read is audited.

    Refusals are audited by the error handler, after the request's rollback.
    """
    obj = load_record(object_type, object_id)
    if not can(user, VIEW, obj):
        raise Forbidden(_l("you may not open this %(record)s",
                           record=label(RECORD_LABELS, object_type)), object_type=object_type,
                        object_id=obj.id,
                        break_glass_allowed=user.role in BREAK_GLASS_ROLES)
    audit.record_read(obj, via=None if in_scope(user, VIEW, obj) else "break_glass")
    return obj
