"""Learning from the people who answer: triage feedback and its review.

A volunteer or counselor who reads a text or chat message marks its triage as wrong (too
high or too low) with the level they judged. The centre's supervisors review the queue:
an accepted one becomes a labelled example, its text de-identified (numbers, links and
addresses masked here; names, schools and places by the supervisor, who confirms the text),
exported for the next training (``crisisline triage export``). Nothing is retrained by
itself: the corpus and ``bench/triage/train.py`` decide what the model learns.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework.models import RiskLevel
from crisisline import audit
from crisisline.access.rules import EDIT, VIEW, can, visible
from crisisline.accounts.models import Role, User
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, Hidden, InvalidInput, NotFound
from crisisline.i18n import RECORD_LABELS
from hotline.models import ContactMessage, FeedbackStatus, TriageFeedback

NOTE_LENGTH = 1000
EXAMPLE_LENGTH = 500
_IDENTIFYING = (
    (re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE), "〔链接〕"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "〔邮箱〕"),
    (re.compile(r"@\S+"), "〔账号〕"),
    # phones, ids, rooms, buildings, times: any number at all
    (re.compile(r"[0-9０-９][0-9０-９\s:.\-]*[0-9０-９]|[0-9０-９]"), "〔数字〕"),
)


def de_identified(text: str) -> str:
    """The text with what identifies a person mechanically masked: every number, links,
    e-mail addresses and @handles (names, schools and places need a person: the supervisor
    confirms they took them out)."""
    for pattern, mask in _IDENTIFYING:
        text = pattern.sub(mask, text)
    return text.strip()


def mark_triage(actor: User, message_id: int, *, level: str, note: str = "") -> TriageFeedback:
    """``actor`` judged an inbound message at ``level``, not at the level triage gave it."""
    if actor.role not in (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR):
        raise Forbidden(_l("only those who answer contacts mark triage as wrong"))
    message = db.get(ContactMessage, message_id)
    missing = _l("%(record)s %(id)s does not exist", record=RECORD_LABELS["message"],
                 id=message_id)
    if message is None or not message.inbound or not message.triage:
        raise NotFound(missing)
    if not can(actor, VIEW, message.contact):
        raise Hidden(missing, object_type="contact", object_id=message.contact_id)
    errors = {}
    given = message.triage["level"]
    if level not in {choice.value for choice in RiskLevel}:
        errors["level"] = _l("choose one of the options offered")
    elif level == given:
        errors["level"] = _l("triage gave this level: choose the level you judged")
    note = (note or "").strip()
    if len(note) > NOTE_LENGTH:
        errors["note"] = _l("at most %(n)d characters", n=NOTE_LENGTH)
    if errors:
        raise InvalidInput(errors)
    if db.scalar(select(TriageFeedback.id).where(TriageFeedback.message_id == message.id,
                                                 TriageFeedback.given_by_id == actor.id)):
        raise Conflict(_l("you have marked this message's triage already"))
    feedback = TriageFeedback(message=message, centre_id=message.contact.centre_id,
                              given_by_id=actor.id, triage_level=RiskLevel(given),
                              judged_level=RiskLevel(level), note=note)
    db.add(feedback)
    audit.record("triage_feedback.create", feedback, changes=audit.diff(feedback))
    db.flush()
    return feedback


def marked_by(actor: User, contact_id: int) -> set[int]:
    """The messages of a contact whose triage ``actor`` has marked as wrong."""
    return set(db.scalars(select(TriageFeedback.message_id).join(ContactMessage).where(
        ContactMessage.contact_id == contact_id, TriageFeedback.given_by_id == actor.id)))


def review_queue(actor: User) -> list[TriageFeedback]:
    """The feedback waiting for ``actor`` (a supervisor), oldest first."""
    return list(db.scalars(visible(actor, TriageFeedback).where(
        TriageFeedback.status == FeedbackStatus.PENDING).order_by(TriageFeedback.created_at,
                                                                  TriageFeedback.id)))


def review(actor: User, feedback_id: int, *, accept: bool, example_text: str = "",
           names_removed: bool = False) -> TriageFeedback:
    """A supervisor accepts the feedback, with the message's text as it may leave the
    centre (``example_text``: checked again for numbers, links and addresses; that names,
    schools and places are out, ``names_removed``, the supervisor confirms), or rejects
    it."""
    feedback = db.get(TriageFeedback, feedback_id, with_for_update=True,
                      populate_existing=True)
    missing = _l("%(record)s %(id)s does not exist",
                 record=RECORD_LABELS["triage_feedback"], id=feedback_id)
    if feedback is None:
        raise NotFound(missing)
    if not can(actor, EDIT, feedback):
        raise Hidden(missing, object_type="triage_feedback", object_id=feedback_id)
    if feedback.status != FeedbackStatus.PENDING:
        raise Conflict(_l("this feedback has been reviewed already"))
    if accept:
        text = (example_text or "").strip()
        if not text:
            raise InvalidInput({"example_text": _l(
                "give the message as it may leave the centre: no names, numbers or places")})
        if len(text) > EXAMPLE_LENGTH:
            raise InvalidInput({"example_text": _l("at most %(n)d characters",
                                                   n=EXAMPLE_LENGTH)})
        if de_identified(text) != text:
            raise InvalidInput({"example_text": _l(
                "it still holds a number, a link or an address: take them out")})
        if not names_removed:
            raise InvalidInput({"names_removed": _l(
                "confirm that no name, school or place is left in the text")})
        feedback.example_text = text
    feedback.status = FeedbackStatus.ACCEPTED if accept else FeedbackStatus.REJECTED
    feedback.reviewed_by_id, feedback.reviewed_at = actor.id, utcnow()
    audit.record(f"triage_feedback.{'accept' if accept else 'reject'}", feedback,
                 changes=audit.diff(feedback))
    return feedback


def accepted_examples() -> list[dict]:
    """Every accepted example, as a labelled row of the corpus (``bench/triage/corpus``)."""
    return [{"text": feedback.example_text, "level": feedback.judged_level.value,
             "source": "feedback", "feedback_id": feedback.id}
            for feedback in db.scalars(select(TriageFeedback).where(
                TriageFeedback.status == FeedbackStatus.ACCEPTED).order_by(TriageFeedback.id))]
