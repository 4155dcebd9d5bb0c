"""What the audit viewer and its export call each action, record type and change.

Every action name the code records has a label here (``tests/audit/test_viewer.py`` finds
them all in the source); ``<type>.read`` and the workflow's ``case.<event>`` are labelled
by their pattern.
"""
from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l

from crisisline.i18n import (CONTACT_STATUS_LABELS, EVENT_LABELS, HOSPITAL_KIND_LABELS,
                             IDENTITY_LABELS, KEY_PERIOD_KIND_LABELS, ORG_KIND_LABELS,
                             OUTCOME_LABELS, RISK_LABELS, ROLE_LABELS, SCHOOL_KIND_LABELS,
                             STATE_LABELS, UNIT_KIND_LABELS, field_label)

ACTION_LABELS = {
    "access.denied": _l("Access refused"),
    "auth.login": _l("Signed in"), "auth.login_failed": _l("Failed sign-in"),
    "auth.logout": _l("Signed out"),
    "user.create": _l("Created a user"), "user.disable": _l("Disabled a user"),
    "user.password_reset": _l("Reset a password"),
    "api_token.create": _l("Issued an API token"),
    "api_token.revoke": _l("Revoked an API token"),
    "auth.login_throttled": _l("Sign-in slowed after repeated failures"),
    "organisation.create": _l("Created an organisation"),
    "organisation.update": _l("Changed an organisation"),
    "school_unit.create": _l("Added a school unit"),
    "school_unit.rename": _l("Renamed a school unit"),
    "school_unit.remove": _l("Removed a school unit"),
    "team.create": _l("Created a team"), "team.rename": _l("Renamed a team"),
    "team.remove": _l("Removed a team"), "team.member_add": _l("Added a team member"),
    "team.member_remove": _l("Removed a team member"),
    "demo.seed": _l("Loaded the demo data"),
    "presence.change": _l("Changed duty status"),
    "presence.away": _l("Set away after missed offers"),
    "break_glass.open": _l("Opened emergency access"),
    "break_glass.review": _l("Reviewed an emergency access"),
    "break_glass.allow_again": _l("Allowed emergency access again"),
    "break_glass.limit_reached": _l("Reached the hourly limit of emergency access"),
    "contact.call_received": _l("Call received"), "contact.queued": _l("Contact queued"),
    "contact.call_ended": _l("Call ended"),
    "contact.text_received": _l("Text message received"),
    "contact.chat_received": _l("Web chat message received"),
    "contact.answered": _l("Contact answered"),
    "contact.screen": _l("Risk screening recorded"),
    "contact.escalate": _l("Escalated to a crisis case"),
    "contact.transfer": _l("Warm transfer"), "contact.wrap_up": _l("Contact wrapped up"),
    "contact.rolled_over": _l("Sent to the backup line"),
    "contact.supervisor_alerted": _l("Supervisors alerted about a waiting contact"),
    "contact_message.create": _l("Reply sent"),
    "callback_attempt.create": _l("Callback attempt recorded"),
    "student.open_case": _l("Opened a case on the student"),
    "case.open": _l("Opened a case"), "case.assign": _l("Assigned a case"),
    "case.list": _l("Listed cases"),
    "case_note.create": _l("Added a case note"),
    "case_document.attach": _l("Attached a document"),
    "follow_up_contact.create": _l("Recorded a follow-up"),
    "guardian_contact_attempt.create": _l("Recorded an attempt to reach the guardian"),
    "deadline.missed": _l("Deadline missed"),
    "alert.acknowledge": _l("Acknowledged an alert"),
    "referral.discharge": _l("Recorded a discharge"),
    "school_report.create": _l("Filed a school report"),
    "school_report.take": _l("Took a school report"),
    "school_report.list": _l("Listed school reports"),
    "follow_up_contact.list": _l("Listed follow-up records"),
    "routine_report.create": _l("Filed a routine report"),
    "routine_report.missed": _l("A routine report did not arrive: the level above was told"),
    "routine_report.list": _l("Listed routine reports"),
    "school_report.open_case": _l("Opened a case for a school report"),
    "school_report.close": _l("Closed a school report without a case"),
    "school_report.untaken": _l("Supervisors told a school report was not taken"),
    "key_period.create": _l("Added a key period"),
    "key_period.update": _l("Changed a key period"),
    "key_period.remove": _l("Removed a key period"),
    "key_period.defaults": _l("Added the default key periods of a school year"),
    "key_period.start": _l("A key period started: reviews of the cases in follow-up"),
    "import.run": _l("Imported a file"),
    "triage_feedback.create": _l("Marked a message's triage as wrong"),
    "triage_feedback.accept": _l("Accepted triage feedback as a labelled example"),
    "triage_feedback.reject": _l("Rejected triage feedback"),
    "screening_campaign.create": _l("Started a screening campaign"),
    "screening_result.create": _l("Recorded a screening result"),
    "screening_warning.create": _l("A screening result raised a warning"),
    "screening_warning.list": _l("Listed a campaign's screening warnings"),
    "screening_warning.interview": _l("Recorded a warned student's interview"),
    "screening_warning.assess": _l("Assessed a second warning"),
    "screening_warning.overdue": _l("A warning's interview was overdue: the school was told"),
    "watch_list_entry.create": _l("Put a student on the watch list"),
    "watch_list_entry.update": _l("Brought a watch-list student's entry up to date"),
    "watch_list_entry.list": _l("Read the watch list"),
    "watch_list_entry.keep": _l("Reviewed a watch-list student: kept on the list"),
    "watch_list_entry.lower": _l("Reviewed a watch-list student: risk lowered"),
    "watch_list_entry.raise": _l("Reviewed a watch-list student: risk raised"),
    "watch_list_entry.remove": _l("Took a student off the watch list"),
    "watch_list_entry.overdue": _l("A watch-list review was missed: the owner was told"),
    "watch_list_entry.long_overdue": _l(
        "A watch-list review is still missed: the psychology centre was told"),
    "review_meeting.create": _l("Recorded a review meeting"),
    "audit.rekey": _l("Audit chain re-keyed"), "audit.export": _l("Exported the audit trail"),
    "user.update": _l("Changed a user"), "user.enable": _l("Re-enabled a user"),
    "user.sign_in_link": _l("Issued a one-time sign-in link"),
    "user.temporary_password": _l("Set a temporary password"),
    "user.sessions_end": _l("Ended a user's sessions"),
    "user.password_change": _l("Changed their own password"),
    "user.two_factor_start": _l("Began setting up two-factor sign-in"),
    "user.two_factor_enable": _l("Turned on two-factor sign-in"),
    "user.two_factor_disable": _l("Turned off two-factor sign-in"),
    "auth.sign_in_link_used": _l("Signed in with a one-time link"),
    "auth.sign_in_link_refused": _l("Refused a sign-in link (unknown, used or expired)"),
    "auth.second_factor_failed": _l("Wrong two-factor code"),
    "student.create": _l("Created a student's file"),
    "student.update": _l("Changed a student's file"),
    "student.move": _l("Moved a student to another school"),
    "student.search": _l("Searched the students"),
    "student.pick": _l("Looked up students to choose one"),
    "referral.list": _l("Listed referrals"),
}
READ_LABEL = _l("Viewed")

OBJECT_LABELS = {
    "case": _l("Case"), "contact": _l("Contact"), "student": _l("Student"),
    "referral": _l("Referral"), "school_report": _l("School report"),
    "routine_report": _l("Routine report"),
    "missed_routine_report": _l("Routine report that did not arrive"),
    "break_glass_grant": _l("Emergency access grant"), "user": _l("User account"),
    "apitoken": _l("API token"), "organisation": _l("Organisation"),
    "presence": _l("Duty status"), "case_note": _l("Case note"),
    "case_document": _l("Case document"), "follow_up_contact": _l("Follow-up"),
    "guardian_contact_attempt": _l("Attempt to reach the guardian"),
    "deadline": _l("Deadline"), "alert": _l("Alert"), "callback_attempt": _l("Callback attempt"),
    "contact_message": _l("Message"), "case_history": _l("Case history"),
    "school_unit": _l("School unit"), "team": _l("Team"), "key_period": _l("Key period"),
    "screening_campaign": _l("Screening campaign"),
    "screening_result": _l("Screening result"),
    "screening_warning": _l("Screening warning"),
    "watch_list_entry": _l("Watch-list student"), "review_meeting": _l("Review meeting"),
    "triage_feedback": _l("Triage feedback"),
}

CHANGE_LABELS = {
    # screening and the watch list
    "screening_warning_ids": _l("Screening warnings"),
    "watch_list_entry_ids": _l("Watch-list students"), "result_id": _l("Screening result"),
    "self_harm_item": _l("Self-harm item"), "items": _l("Items"), "urgent": _l("Urgent"),
    "interviewed_by_id": _l("Interviewed by (user id)"),
    "interviewed_at": _l("Interviewed at"), "interview_note": _l("Interview note"),
    "assessed_by_id": _l("Assessed by (user id)"), "assessed_at": _l("Assessed at"),
    "plan": _l("One-person plan"), "warning_id": _l("Screening warning"),
    "added_by_id": _l("Added by (user id)"), "on_list_key": _l("On the list"),
    "removed_at": _l("Removed at"), "removed_by_id": _l("Removed by (user id)"),
    "removed_reason": _l("Why the student left the list"),
    "owner_alerted_for": _l("Owner told of the review due on"),
    "centre_alerted_for": _l("Psychology centre told of the review due on"),
    "overdue_alerted_at": _l("School told the interview was overdue at"),
    "held_by_id": _l("Held by (user id)"),
    "triage_level": _l("Level triage gave"), "judged_level": _l("Level judged"),
    "given_by_id": _l("Given by (user id)"), "reviewed_by_id": _l("Reviewed by (user id)"),
    "reviewed_at": _l("Reviewed at"), "example_text": _l("Labelled example"),
    "created_by_id": _l("Created by (user id)"),
    # the school network
    "unit_id": _l("Unit"), "school_report_ids": _l("School reports"),
    "follow_up_ids": _l("Follow-up records"), "routine_report_ids": _l("Routine reports"),
    "taken_by_id": _l("Taken by (user id)"), "taken_at": _l("Taken at"),
    "closed_reason": _l("Why no case was needed"), "handled_at": _l("Handled at"),
    "triage_alerted_at": _l("Supervisors told at"),
    "state": _l("State"), "status": _l("Status"), "priority": _l("Priority"),
    "owner_id": _l("Owner (user id)"), "team_id": _l("Team"), "case_id": _l("Case"),
    "contact_id": _l("Contact"), "handled_by_id": _l("Handled by (user id)"),
    "answered_by_id": _l("Answered by (user id)"), "username": _l("Username"),
    "display_name": _l("Name"), "role": _l("Role"), "password_hash": _l("Password"),
    "phone": _l("Phone number"), "disabled_at": _l("Disabled at"), "via": _l("Through"),
    "path": _l("Page"), "user": _l("User"), "expires_at": _l("Expires at"),
    "object_type": _l("Record type"), "object_id": _l("Record number"),
    "review_outcome": _l("Review outcome"), "delivery": _l("Delivery"),
    "message_id": _l("Message"), "triage": _l("Triage"), "filters": _l("Filters"),
    "model": _l("The model's second opinion"),
    "rows": _l("Rows"), "entries": _l("Entries"), "key_id": _l("Key"),
    "case_ids": _l("Cases"), "channel": _l("Channel"), "session": _l("Sign-in session"),
    "supervisors": _l("Supervisors alerted"), "organisations": _l("Organisations"),
    "due_at": _l("Due at"), "limit": _l("Limit reached"),
    "wait_seconds": _l("Wait (seconds)"), "missed_offers": _l("Offers missed in a row"),
    "prefix": _l("Token prefix"), "sha256": _l("File checksum (SHA-256)"),
    "hospital_kind": _l("Hospital category"),
    "languages": _l("Contact languages"), "reporter_identity": _l("Reporter identity"),
    "must_change_password": _l("Must change the password"),
    "totp_secret": _l("Two-factor secret"), "totp_enabled_at": _l("Two-factor sign-in since"),
    "language": _l("Language"), "organisation": _l("Organisation"), "unit": _l("Unit"),
    "team": _l("Duty team"), "sessions": _l("Sessions ended"),
    "records": _l("Records"), "file": _l("File"), "created": _l("New"),
    "updated": _l("Changed"), "unchanged": _l("Unchanged"),
    "student_ids": _l("Students"), "referral_ids": _l("Referrals"),
    "parent_id": _l("Parent unit"), "part": _l("Part read"),
    "reviews": _l("Reviews due (cases)"), "key_period_ids": _l("Key periods"),
}
VALUE_LABELS = {
    "state": STATE_LABELS, "risk_level": RISK_LABELS, "role": ROLE_LABELS,
    "status": CONTACT_STATUS_LABELS, "outcome": OUTCOME_LABELS,
    "kind": {**ORG_KIND_LABELS, **UNIT_KIND_LABELS, **KEY_PERIOD_KIND_LABELS},
    "school_kind": SCHOOL_KIND_LABELS,
    "hospital_kind": HOSPITAL_KIND_LABELS,
    "reporter_identity": IDENTITY_LABELS,
    "via": {"break_glass": _l("emergency access"), "history": _l("case history"),
            "notes": _l("case notes"), "two_factor": _l("password and two-factor code"),
            "sign_in_link": _l("one-time sign-in link")},
    "records": {"organisations": _l("Organisations"), "users": _l("Users"),
                "students": _l("Students")},
    "part": {"history": _l("case history"), "notes": _l("case notes"),
             "student_file": _l("the student's file")},
    "limit": {"address": _l("too many sign-ins from this address"),
              "account_and_address": _l("wrong passwords for this account from this address")},
}
NOT_RECORDED = _l("changed (the value is not recorded)")


def action_label(action: str) -> str:
    """The action in the reader's language; an unknown one as it was recorded."""
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    kind, _, verb = action.rpartition(".")
    if verb == "read":
        return str(READ_LABEL)
    if kind == "case" and verb in EVENT_LABELS:
        return str(_l("Case step: %(step)s", step=EVENT_LABELS[verb]))
    return action


def object_label(object_type: str | None) -> str:
    return str(OBJECT_LABELS.get(object_type, object_type or ""))


def change_lines(changes: dict | None) -> list[tuple[str, str]]:
    """(field, what changed) pairs a person can read: "old → new", or the new value."""
    lines = []
    for field, change in (changes or {}).items():
        label = CHANGE_LABELS.get(field) or field_label(field)
        if isinstance(change, dict) and change.get("changed") is True:
            lines.append((str(label), str(NOT_RECORDED)))
        elif isinstance(change, dict) and set(change) <= {"old", "new"}:
            new = _value(field, change.get("new"))
            lines.append((str(label), f"{_value(field, change['old'])} → {new}"
                          if change.get("old") is not None else new))
        else:
            lines.append((str(label), _value(field, change)))
    return lines


def _value(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, (str, int)) and str(value) in VALUE_LABELS.get(field, {}):
        return str(VALUE_LABELS[field][str(value)])
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)
