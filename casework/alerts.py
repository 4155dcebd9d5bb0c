"""Alerts: every kind there is, what each is about, and raising them.

Each kind is declared here, once, with the record it is about (a case, a contact or a
school report), the words a console shows for it and, for the kinds that are texted, the
text; whichever process shows an alert knows every kind. An
alert of an undeclared kind cannot be stored (``Alert``'s validator), and
``tests/test_every_page_renders.py`` renders every kind declared here on the consoles, so
a new kind is either shown with a link to its record or a failing test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from flask import current_app
from flask_babel import lazy_gettext as _l

from casework.models import DEADLINE_KINDS, Alert
from crisisline.accounts.models import User
from crisisline.database import db, on_commit, transaction_info
from crisisline.i18n import DEADLINE_LABELS
from crisisline.realtime import emit_after_commit, user_room

CASE, CONTACT, SCHOOL_REPORT, UNIT, WARNING, WATCH_ENTRY, BREAK_GLASS = (
    "case", "contact", "school_report", "unit", "screening_warning", "watch_entry",
    "break_glass")


@dataclass(frozen=True)
class AlertKind:
    # what the alert links to: a CASE, a CONTACT, a SCHOOL_REPORT, a UNIT of the school
    # network, a screening WARNING or a WATCH_ENTRY (whose id it must carry), or the
    # BREAK_GLASS reviews (a case or contact id, when it has one, links that record too)
    about: str
    label: object  # what happened, in the reader's language (a lazy message)
    # the text sent to the recipient's phone once it is committed (when Twilio is set),
    # formatted with %(case)s, %(report)s, %(unit)s, %(warning)s, %(entry)s and %(step)s;
    # never a student's details. None:
    # shown on the console only
    text: object = None


def missed(deadline_kind: str) -> str:
    """The kind of alert a missed deadline of ``deadline_kind`` raises."""
    return f"missed_{deadline_kind}"


UNANSWERED_HIGH_RISK_TEXT = "unanswered_high_risk_text"
BREAK_GLASS_LIMIT = "break_glass_limit"
SCHOOL_REPORT_AT_RISK = "school_report_at_risk"
SCHOOL_REPORT_UNTAKEN = "school_report_untaken"
SCHOOL_REPORT_ON_OPEN_CASE = "school_report_on_open_case"
DAILY_REPORT_REMINDER = "daily_report_reminder"
MISSED_WEEKLY_CLASS_REPORT = "missed_weekly_class_report"
MISSED_MONTHLY_DEPARTMENT_REPORT = "missed_monthly_department_report"
URGENT_SCREENING_WARNING = "urgent_screening_warning"
SCREENING_INTERVIEW_OVERDUE = "screening_interview_overdue"
SCREENING_CASE = "screening_case"
WATCH_REVIEW_OVERDUE = "watch_review_overdue"
WATCH_REVIEW_LONG_OVERDUE = "watch_review_long_overdue"

KINDS: dict[str, AlertKind] = {
    **{missed(kind): AlertKind(
        CASE, _l("%(step)s is overdue", step=DEADLINE_LABELS[kind]),
        _l("Crisisline: case #%(case)s is overdue: %(step)s. Please sign in and act."))
       for kind in DEADLINE_KINDS},
    SCHOOL_REPORT_AT_RISK: AlertKind(
        SCHOOL_REPORT, _l("A school reported a student at risk"),
        _l("Crisisline: a school reported a student at risk (report #%(report)s). Please "
           "sign in and take it.")),
    SCHOOL_REPORT_UNTAKEN: AlertKind(
        SCHOOL_REPORT, _l("Nobody has taken a school's at-risk report"),
        _l("Crisisline: nobody has taken the school's at-risk report #%(report)s yet. "
           "Please sign in and see that it is handled.")),
    SCHOOL_REPORT_ON_OPEN_CASE: AlertKind(
        CASE, _l("The school reported on the student of this case again"),
        _l("Crisisline: the school reported on the student of case #%(case)s again. Please "
           "sign in and read it.")),
    # to the school's reporters, who cannot open the case: the page names the student
    DAILY_REPORT_REMINDER: AlertKind(
        CASE, _l("Today's daily report on a student has not arrived"),
        _l("Crisisline: today's daily report on a student under daily reporting has not "
           "arrived. Please sign in and file it.")),
    MISSED_WEEKLY_CLASS_REPORT: AlertKind(
        UNIT, _l("A class's weekly report has not arrived"),
        _l("Crisisline: the weekly report of %(unit)s has not arrived. Please follow it up.")),
    MISSED_MONTHLY_DEPARTMENT_REPORT: AlertKind(
        UNIT, _l("A department's monthly report has not arrived"),
        _l("Crisisline: the monthly report of %(unit)s has not arrived. Please follow it "
           "up.")),
    URGENT_SCREENING_WARNING: AlertKind(
        WARNING, _l("A screening answered the self-harm item: interview the student "
                    "within a day"),
        _l("Crisisline: a student's screening answered the self-harm item (warning "
           "#%(warning)s). Please sign in and arrange the interview within a day.")),
    SCREENING_INTERVIEW_OVERDUE: AlertKind(
        WARNING, _l("A screening warning's interview is overdue"),
        _l("Crisisline: the interview of screening warning #%(warning)s is overdue. Please "
           "sign in and follow it up.")),
    SCREENING_CASE: AlertKind(
        CASE, _l("A school's assessment graded a student high risk: a case opened"),
        _l("Crisisline: a school graded a screened student high risk; case #%(case)s is "
           "open. Please sign in and take it.")),
    WATCH_REVIEW_OVERDUE: AlertKind(
        WATCH_ENTRY, _l("A watch-list student's review is overdue"),
        _l("Crisisline: the review of a student on the watch list (#%(entry)s) is overdue. "
           "Please sign in and review them.")),
    WATCH_REVIEW_LONG_OVERDUE: AlertKind(
        WATCH_ENTRY, _l("A watch-list student's review is still overdue"),
        _l("Crisisline: the review of a student on the watch list (#%(entry)s) is still "
           "overdue. Please sign in and see that it is done.")),
    UNANSWERED_HIGH_RISK_TEXT: AlertKind(
        CONTACT, _l("A high-risk text or chat was left unanswered")),
    BREAK_GLASS_LIMIT: AlertKind(
        BREAK_GLASS, _l("Someone reached the hourly limit of emergency access")),
}

def texted_kinds() -> list[str]:
    """The kinds whose alerts are texted (a lost send is sent again by the deadline poll)."""
    return [kind for kind, declared in KINDS.items() if declared.text is not None]


def label(kind: str) -> str:
    """What an alert of ``kind`` says, in the reader's language."""
    declared = KINDS.get(kind)
    return str(declared.label) if declared else kind


def about(kind: str) -> str | None:
    """What an alert of ``kind`` links to (CASE, CONTACT or BREAK_GLASS)."""
    declared = KINDS.get(kind)
    return declared.about if declared else None


def raise_alerts(kind: str, recipients: Iterable[User], *, case_id: int | None = None,
                 contact_id: int | None = None, school_report_id: int | None = None,
                 unit_id: int | None = None, screening_warning_id: int | None = None,
                 watch_entry_id: int | None = None,
                 deadline_id: int | None = None) -> list[Alert]:
    """Alert each of ``recipients`` about a case, a contact, a school report, a unit, a
    screening warning or a watch-list entry (the one ``kind`` is declared about must be
    given); each recipient's console is told after
    commit, and, for a kind with a text, their phone (one task for the transaction's
    alerts)."""
    needed = {CASE: case_id, CONTACT: contact_id, SCHOOL_REPORT: school_report_id,
              UNIT: unit_id, WARNING: screening_warning_id,
              WATCH_ENTRY: watch_entry_id}.get(KINDS[kind].about, kind)
    if needed is None:
        raise ValueError(f"a {kind} alert is about a {KINDS[kind].about}: give its id")
    alerts = [Alert(recipient_id=recipient.id, kind=kind, case_id=case_id,
                    contact_id=contact_id, school_report_id=school_report_id,
                    unit_id=unit_id, screening_warning_id=screening_warning_id,
                    watch_entry_id=watch_entry_id, deadline_id=deadline_id)
              for recipient in recipients]
    db.add_all(alerts)
    for alert in alerts:
        emit_after_commit("alert.raised", {"kind": kind, "case_id": case_id,
                                           "contact_id": contact_id,
                                           "school_report_id": school_report_id,
                                           "unit_id": unit_id,
                                           "screening_warning_id": screening_warning_id,
                                           "watch_entry_id": watch_entry_id},
                          room=user_room(alert.recipient_id))
    if alerts and KINDS[kind].text is not None and current_app.config["TWILIO_ACCOUNT_SID"]:
        _text_after_commit(alerts)
    return alerts


def _text_after_commit(alerts: list[Alert]) -> None:
    to_text = transaction_info("alerts_to_text")
    if not to_text:  # the first in this transaction: one task texts them all (committed
        # objects keep their ids: the session does not expire them)
        from casework.tasks import text_alerts  # the tasks raise alerts too
        on_commit(lambda: text_alerts.delay([alert.id for alert in to_text]))
    to_text.extend(alerts)
