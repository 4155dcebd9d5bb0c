"""Alerts: the kinds there are, what each is about, and raising them.

Every kind is declared once, by the module that raises it, with the record it is about (a
case or a contact) and the words a console shows for it. An alert of an undeclared kind
cannot be stored (``Alert``'s validator), and ``tests/test_every_page_renders.py`` renders
every declared kind on every console, so a new kind is either renderable or a failing test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from casework.models import Alert
from crisisline.accounts.models import User
from crisisline.database import db
from crisisline.realtime import emit_after_commit, user_room

CASE, CONTACT = "case", "contact"


@dataclass(frozen=True)
class AlertKind:
    about: str  # CASE or CONTACT: the record the alert must link to
    label: object  # a lazy message: what happened, in the reader's language


KINDS: dict[str, AlertKind] = {}


def declare(kind: str, *, about: str, label) -> str:
    """Declare an alert kind; returns ``kind``, for the declaring module to raise it by."""
    if about not in (CASE, CONTACT):
        raise ValueError(f"an alert is about a {CASE} or a {CONTACT}, not {about!r}")
    if len(kind) > Alert.kind.type.length:
        raise ValueError(f"alert kind {kind!r} is longer than the kind column")
    KINDS[kind] = AlertKind(about, label)
    return kind


def label(kind: str) -> str:
    """What an alert of ``kind`` says, in the reader's language."""
    declared = KINDS.get(kind)
    return str(declared.label) if declared else kind


def raise_alerts(kind: str, recipients: Iterable[User], *, case_id: int | None = None,
                 contact_id: int | None = None, deadline_id: int | None = None) -> list[Alert]:
    """Alert each of ``recipients`` about a case or a contact (the one ``kind`` is declared
    about must be given); each recipient's console is told after commit."""
    declared = KINDS[kind]
    if (case_id if declared.about == CASE else contact_id) is None:
        raise ValueError(f"a {kind} alert is about a {declared.about}: give its id")
    alerts = [Alert(recipient_id=recipient.id, kind=kind, case_id=case_id,
                    contact_id=contact_id, deadline_id=deadline_id) for recipient in recipients]
    db.add_all(alerts)
    for alert in alerts:
        emit_after_commit("alert.raised", {"kind": kind, "case_id": case_id,
                                           "contact_id": contact_id},
                          room=user_room(alert.recipient_id))
    return alerts
