"""Alerts: every kind there is, what each is about, and raising them.

Each kind is declared here, once, with the record it is about (a case or a contact) and
the words a console shows for it; whichever process shows an alert knows every kind. An
alert of an undeclared kind cannot be stored (``Alert``'s validator), and
``tests/test_every_page_renders.py`` renders every kind declared here on the consoles, so
a new kind is either shown with a link to its record or a failing test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from flask_babel import lazy_gettext as _l

from casework.models import DEADLINE_KINDS, Alert
from crisisline.accounts.models import User
from crisisline.database import db
from crisisline.i18n import DEADLINE_LABELS
from crisisline.realtime import emit_after_commit, user_room

CASE, CONTACT, BREAK_GLASS = "case", "contact", "break_glass"


@dataclass(frozen=True)
class AlertKind:
    # what the alert links to: a CASE or a CONTACT (whose id it must carry), or the
    # BREAK_GLASS reviews (a case or contact id, when it has one, links that record too)
    about: str
    label: object  # what happened, in the reader's language (a lazy message)


def missed(deadline_kind: str) -> str:
    """The kind of alert a missed deadline of ``deadline_kind`` raises."""
    return f"missed_{deadline_kind}"


UNANSWERED_HIGH_RISK_TEXT = "unanswered_high_risk_text"
BREAK_GLASS_LIMIT = "break_glass_limit"

KINDS: dict[str, AlertKind] = {
    **{missed(kind): AlertKind(CASE, _l("%(step)s is overdue", step=DEADLINE_LABELS[kind]))
       for kind in DEADLINE_KINDS},
    UNANSWERED_HIGH_RISK_TEXT: AlertKind(
        CONTACT, _l("A high-risk text or chat was left unanswered")),
    BREAK_GLASS_LIMIT: AlertKind(
        BREAK_GLASS, _l("Someone reached the hourly limit of emergency access")),
}


def label(kind: str) -> str:
    """What an alert of ``kind`` says, in the reader's language."""
    declared = KINDS.get(kind)
    return str(declared.label) if declared else kind


def about(kind: str) -> str | None:
    """What an alert of ``kind`` links to (CASE, CONTACT or BREAK_GLASS)."""
    declared = KINDS.get(kind)
    return declared.about if declared else None


def raise_alerts(kind: str, recipients: Iterable[User], *, case_id: int | None = None,
                 contact_id: int | None = None, deadline_id: int | None = None) -> list[Alert]:
    """Alert each of ``recipients`` about a case or a contact (the one ``kind`` is declared
    about must be given); each recipient's console is told after commit."""
    needed = {CASE: case_id, CONTACT: contact_id}.get(KINDS[kind].about, kind)
    if needed is None:
        raise ValueError(f"a {kind} alert is about a {KINDS[kind].about}: give its id")
    alerts = [Alert(recipient_id=recipient.id, kind=kind, case_id=case_id,
                    contact_id=contact_id, deadline_id=deadline_id) for recipient in recipients]
    db.add_all(alerts)
    for alert in alerts:
        emit_after_commit("alert.raised", {"kind": kind, "case_id": case_id,
                                           "contact_id": contact_id},
                          room=user_room(alert.recipient_id))
    return alerts
