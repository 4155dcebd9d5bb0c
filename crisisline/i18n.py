"""Simplified Chinese by default, English on request."""
from __future__ import annotations

from flask import current_app, has_app_context, has_request_context, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user

LANGUAGES = {"zh_Hans_CN": "简体中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_Hans_CN"

ROLE_LABELS = {
    "volunteer": _l("Hotline volunteer"), "counselor": _l("On-duty counselor"),
    "supervisor": _l("Supervisor"), "hospital_liaison": _l("Hospital liaison"),
    "reporter": _l("School reporter"), "admin": _l("Administrator"),
}
RISK_LABELS = {"none": _l("No risk"), "low": _l("Low"), "moderate": _l("Moderate"),
               "high": _l("High"), "imminent": _l("Imminent")}
CHANNEL_LABELS = {"voice": _l("Phone"), "sms": _l("SMS"), "web_chat": _l("Web chat")}
STATE_LABELS = {
    "reported": _l("Reported"), "on_site": _l("On site"),
    "guardian_contact": _l("Guardian contact"), "hospital_transfer": _l("Hospital transfer"),
    "on_leave": _l("On leave"), "return_review": _l("Return review"),
    "follow_up": _l("Follow-up"), "closed": _l("Closed"), "withdrawn": _l("Withdrawn"),
}
EVENT_LABELS = {
    "triage_support": _l("Support plan (low/medium risk)"), "dispatch": _l("Dispatch to the scene"),
    "escalate": _l("Escalate"), "contact_guardian": _l("On site: contact the guardian"),
    "refer_to_hospital": _l("Refer to hospital"), "home_supervision": _l("Home supervision"),
    "confirm_arrival": _l("Confirm arrival at hospital"),
    "return_to_class": _l("Return to class"), "start_leave": _l("Start leave or suspension"),
    "apply_return": _l("Apply to return"), "approve_return": _l("Approve return"),
    "reject_return": _l("Reject return"), "withdraw": _l("Withdraw"), "close": _l("Close case"),
    "reopen": _l("Reopen case"),
}
FIELD_LABELS = {
    # screening (心理普测) and the watch list (动态清单)
    "instrument": _l("Scale"), "started_on": _l("Started on"),
    "scale_name": _l("Name of the scale"), "cut_off": _l("Cut-off"),
    "max_score": _l("Highest total"), "review_on": _l("First review on"),
    "decision": _l("Decision"), "next_review_on": _l("Next review on"),
    "held_on": _l("Meeting date"), "decisions": _l("Decisions"),
    "entry_id": _l("Student on the watch list"), "total": _l("Total score"),
    "campaign_id": _l("Screening campaign"), "dry_run": _l("Check only"),
    "raise_to": _l("Raise to"), "review_note": _l("What the review found"),
    # triage feedback
    "level": _l("The level you judged"), "accept": _l("Accept"),
    "names_removed": _l("No name, school or place is left in the text"),
    "example_text": _l("The message without names, numbers or places"),
    **{f"item{number}": _l("Item %(number)d", number=number) for number in range(1, 10)},
    # the school network's routine reports: 班级心理基本情况
    "study": _l("Study"), "life": _l("Daily life"),
    "relationships": _l("Getting along with others"), "emotions": _l("Emotions"),
    "watch": _l("Students to watch"), "period_start": _l("First day of the period"),
    "watch_student_number": _l("Student to watch: student number"),
    "watch_note": _l("Student to watch: what you saw"),
    "watch_at_risk": _l("Student to watch: at risk"),
    "risk_level": _l("Risk level"), "support_plan": _l("One-person support plan"),
    "plan_owner_id": _l("Plan owner"), "responder": _l("Named responder"),
    "emergency_services": _l("Emergency services called"), "reason": _l("Reason"),
    "arrived_at": _l("Arrival time"), "watcher": _l("Person keeping continuous watch"),
    "hospital_id": _l("Designated hospital"), "legal_basis": _l("Legal basis"),
    "danger_to_others": _l("Danger to others"), "guardian_refused": _l("Guardian refused"),
    "police_reference": _l("Police reference"),
    "guardian_refused_admission": _l("Guardian refused admission"),
    "acknowledgement_document_id": _l("Guardian's signed acknowledgement (document no.)"),
    "diagnosis_outcome": _l("Diagnosis outcome"),
    "parent_notice_document_id": _l("Signed parent notice (document no.)"),
    "kind": _l("Kind"), "expected_end": _l("Expected end date"),
    "certificate_document_id": _l("Recovery certificate (document no.)"),
    "application_document_id": _l("Student's application (document no.)"),
    "note": _l("Note"), "version": _l("Version"), "source": _l("Source"),
    "summary": _l("Summary"), "outcome": _l("Outcome"), "occurred_at": _l("Time"),
    "file": _l("File"), "follow_up_contacts": _l("Follow-up contacts"),
    "deadlines": _l("Deadlines"), "guardian_contact_attempts": _l("Attempts to reach the guardian"),
    "school_consent_form": _l("School consent form"), "student_id": _l("Student"),
    "issued_by_hospital_id": _l("Issued by hospital"), "discharged_at": _l("Discharged at"),
    # fields of the other forms and requests, as a refusal names them
    "object_type": _l("Record type"), "object_id": _l("Record"), "grant": _l("Grant"),
    "username": _l("Username"), "display_name": _l("Display name"), "role": _l("Role"),
    "password": _l("Password"), "org": _l("Organisation code"),
    "organisation": _l("Organisation code"), "body": _l("Message"),
    "categories": _l("Categories"), "wrap_up_code": _l("Wrap-up code"),
    "answers": _l("Screening answers"), "owner_id": _l("Owner"), "guardian_id": _l("Guardian"),
    "case": _l("Case"), "reached": _l("Reached"), "student_number": _l("Student number"),
    "report_date": _l("Report date"), "data": _l("Step data"), "risk": _l("Risk level"),
    "state": _l("State"), "owner": _l("Owner"), "school": _l("School"),
    "overdue": _l("Overdue"), "language": _l("Language"),
    "wish_dead": _l("Question 1 (wish to be dead)"),
    "thoughts": _l("Question 2 (suicidal thoughts)"), "method": _l("Question 3 (method)"),
    "intent": _l("Question 4 (intent)"), "plan": _l("Question 5 (plan)"),
    "behaviour": _l("Question 6 (suicidal behaviour)"),
    "behaviour_recent": _l("Question 6: within the past three months"),
    # the audit trail's filters
    "from": _l("From date"), "to": _l("To date"), "person": _l("Person (username)"),
    "action": _l("Action"), "record_type": _l("Record type"),
    "record_id": _l("Record number"),
    # the district: organisations, units, teams (the same names as the import's columns)
    "code": _l("Code"), "name": _l("Name of the organisation, unit, team or period"),
    "hotline_numbers": _l("Hotline numbers"), "backup_line": _l("Backup line"),
    "school_kind": _l("School type"), "centre": _l("Serving hotline centre"),
    "designated_hospitals": _l("Designated hospitals"),
    "hospital_category": _l("Hospital category"),
    "green_channel_phone": _l("Green-channel phone"), "parent": _l("Belongs to"),
    "unit": _l("Unit"), "team": _l("Duty team"), "member": _l("Team member"),
    # the staff pages, the users API and the users import
    "identity": _l("Reporter identity"), "phone": _l("Mobile phone"),
    "languages": _l("Contact languages"),
    "credential": _l("How they sign in first"), "totp_code": _l("Verification code"),
    "current_password": _l("Current password"), "new_password": _l("New password"),
    "new_password_again": _l("New password again"),
    # students (casework.students) and the pickers
    "gender": _l("Gender"), "birth_date": _l("Date of birth"),
    "school_id": _l("School"), "class_unit_id": _l("Class"),
    "dormitory_unit_id": _l("Dormitory"), "guardians": _l("Guardians"),
    "special_groups": _l("Special groups"),
    **{f"guardian{n}_{part}": label for n in (1, 2, 3) for part, label in (
        ("name", _l("Guardian %(n)d: name", n=n)),
        ("relation", _l("Guardian %(n)d: relation", n=n)),
        ("phone", _l("Guardian %(n)d: phone", n=n)))},
    "student_not_identified": _l("Student not identified"),
    "escort_id": _l("Accompanying staff member"), "purpose": _l("Purpose"),
    "contact": _l("Contact"), "q": _l("Search"),
    "page": _l("Page"), "per_page": _l("Per page"),
    # the students import's columns (casework.imports)
    "school_code": _l("School code"), "department": _l("Department or grade"),
    "class_name": _l("Class"), "dormitory": _l("Dormitory"),
    # the school's key periods (schoolnet) and their command
    "starts_on": _l("First day"), "ends_on": _l("Last day"), "year": _l("School year"),
}
CHOICE_LABELS = {
    "low": _l("Low"), "moderate": _l("Moderate"), "high": _l("High"), "imminent": _l("Imminent"),
    "guardian_consent": _l("Guardian consent"),
    "school_consent": _l("School consent (guardian unreachable)"),
    "police_assisted": _l("Police assisted (danger to others)"),
    "fit_to_study": _l("Fit to study"), "needs_leave": _l("Needs home rest"),
    "needs_admission": _l("Needs admission"), "leave": _l("Leave"),
    "suspension": _l("Suspension"), "home_rest": _l("Home rest"), "inpatient": _l("Inpatient"),
    "guardian_took_home": _l("Guardian took the student home"),
    "leave_expired": _l("Leave expired without application"),
    "failed_review": _l("Failed review"), "family_decision": _l("Family decision"),
    "phone": _l("Phone"), "interview": _l("Interview"), "home_visit": _l("Home visit"),
    "school_consent_form": _l("School consent form"),
    "guardian_acknowledgement": _l("Guardian's acknowledgement"),
    "parent_notice": _l("Parent notice"), "recovery_certificate": _l("Recovery certificate"),
    "return_application": _l("Return application"), "diagnosis": _l("Diagnosis"),
    "other": _l("Other"), "hotline_contact": _l("Hotline contact"),
    "school_report": _l("School report"), "screening": _l("Screening"),
    "parent": _l("Parent"), "hospital": _l("Hospital"),
}
DEADLINE_LABELS = {
    "responder_on_site": _l("Responder on site"), "guardian_reached": _l("Guardian reached"),
    "hospital_arrival": _l("Arrival at hospital confirmed"),
    "first_follow_up": _l("First follow-up"), "follow_up": _l("Next follow-up"),
    "outpatient_follow_up": _l("Outpatient follow-up"), "daily_report": _l("Daily report"),
    "daily_report_escalation": _l("Daily report, after the school was reminded"),
    "leave_ending": _l("Leave ending"), "key_period_review": _l("Key-period review"),
}
PRESENCE_LABELS = {"offline": _l("Offline"), "available": _l("Available"),
                   "offered": _l("Being offered a contact"), "busy": _l("On a contact"),
                   "wrap_up": _l("Wrapping up"), "break": _l("On a break"),
                   "away": _l("Away from the desk")}
PRESENCE_EVENTS = {  # what a person may switch to from each state, with the button's words
    "offline": [("sign_in", _l("Go on duty"))],
    "available": [("take_break", _l("Take a break")), ("sign_out", _l("Go off duty"))],
    "break": [("end_break", _l("Back from break")), ("sign_out", _l("Go off duty"))],
    "busy": [],  # a contact ends with its wrap-up
    "wrap_up": [("ready", _l("Ready for the next")), ("sign_out", _l("Go off duty"))],
    "offered": [],
    "away": [("come_back", _l("I'm back")), ("sign_out", _l("Go off duty"))],
}
CSSRS_LABELS = {  # the C-SSRS screener's questions (past month unless said)
    "wish_dead": _l("1. Have you wished you were dead or wished you could go to sleep "
                    "and not wake up?"),
    "thoughts": _l("2. Have you actually had any thoughts of killing yourself?"),
    "method": _l("3. Have you been thinking about how you might do this? (only if 2 is yes)"),
    "intent": _l("4. Have you had these thoughts and had some intention of acting on them? "
                 "(only if 2 is yes)"),
    "plan": _l("5. Have you started to work out or worked out the details of how to kill "
               "yourself, and do you intend to carry out this plan? (only if 2 is yes)"),
    "behaviour": _l("6. Have you ever done anything, started to do anything, or prepared to "
                    "do anything to end your life?"),
    "behaviour_recent": _l("If yes to 6: was this within the past three months?"),
}
CATEGORY_LABELS = {
    "suicidal_thoughts": _l("Suicidal thoughts"), "self_harm": _l("Self-harm"),
    "academic_pressure": _l("Academic pressure"), "family": _l("Family"),
    "relationships": _l("Getting along with others"), "bullying": _l("Bullying"),
    "loneliness": _l("Loneliness"), "abuse": _l("Abuse"),
    "mental_illness": _l("Mental illness"), "information": _l("Information request"),
    "other": _l("Other"),
}
TRIAGE_CATEGORY_LABELS = {  # the risk lexicon's categories (hotline/data/risk_lexicon.json)
    "attempt_in_progress": _l("Attempt in progress"), "dangerous_place": _l("Dangerous place"),
    "distress": _l("Distress"), "farewell": _l("Farewell"),
    "ideation": _l("Suicidal ideation"), "intent": _l("Intent"), "means": _l("Means"),
    "means_in_hand": _l("Means at hand"), "method": _l("Method"),
    "method_research": _l("Looking up methods"), "plan": _l("Plan"),
    "preparation": _l("Preparation"), "self_harm_intent": _l("Self-harm intent"),
    "self_harm_or_history": _l("Self-harm or history"),
    "third_party": _l("Someone else at risk"),
}
WRAP_UP_LABELS = {
    "supported": _l("Supported, no further action"),
    "escalated_to_case": _l("Escalated to a crisis case"),
    "referred_elsewhere": _l("Referred to another service"),
    "callback_agreed": _l("Callback agreed"), "caller_disconnected": _l("Caller disconnected"),
    "silent_or_prank": _l("Silent or prank contact"),
}
CONTACT_STATUS_LABELS = {
    "ivr": _l("In the greeting menu"), "queued": _l("Waiting"), "offered": _l("Being offered"),
    "active": _l("In progress"), "wrap_up": _l("Ended, wrap-up due"), "ended": _l("Wrapped up"),
    "abandoned": _l("Hung up waiting"), "rolled_over": _l("Sent to the backup line"),
}
DELIVERY_LABELS = {"pending": _l("Waiting to be sent"), "sending": _l("Sending"),
                   "sent": _l("Sent"), "delivered": _l("Delivered"),
                   "failed": _l("Not sent: Twilio refused it"),
                   "not_sent": _l("Not sent: texting is not configured")}
OUTCOME_LABELS = {"success": _l("Done"), "denied": _l("Refused"), "failure": _l("Failed")}
WARNING_STATE_LABELS = {  # a screening warning's chain
    "awaiting_interview": _l("Awaiting the one-to-one interview"),
    "cleared": _l("Cleared at interview"), "second_warning": _l("Second warning: to assess"),
    "graded": _l("Graded"),
}
WATCH_DECISION_LABELS = {"keep": _l("Keep on the list"), "lower": _l("Lower to low risk"),
                         "raise": _l("Raise the risk level"),
                         "remove": _l("Remove from the list")}
RECORD_LABELS = {"case": _l("case"), "contact": _l("contact"), "referral": _l("referral"),
                 "student": _l("student"), "school_report": _l("school report"),
                 "document": _l("document"), "alert": _l("alert"),
                 "break_glass_grant": _l("break-the-glass grant"),
                 "key_period": _l("key period"),
                 "screening_campaign": _l("screening campaign"),
                 "screening_warning": _l("screening warning"),
                 "watch_list_entry": _l("watch-list student"), "message": _l("message"),
                 "triage_feedback": _l("triage feedback")}
IDENTITY_LABELS = {  # a school reporter's place in the four-level network
    "head_teacher": _l("Head teacher"), "counselor_teacher": _l("Counselor-teacher"),
    "class_committee": _l("Class psychological committee member"),
    "dormitory_informant": _l("Dormitory psychological informant"),
    "department_head": _l("Head of department or grade"),
    "psychology_centre": _l("School psychology centre teacher"),
}
CONTACT_LANGUAGE_LABELS = {"zh": _l("Chinese"), "en": _l("English")}
CREDENTIAL_LABELS = {"link": _l("A one-time sign-in link (valid 24 hours)"),
                     "password": _l("A temporary password (changed at first sign-in)")}
REPORT_KIND_LABELS = {"at_risk": _l("Student at risk"), "daily": _l("Daily report"),
                      "zero": _l("Zero report")}
KEY_PERIOD_KIND_LABELS = {  # schoolnet.models.KeyPeriodKind (seed 002's key periods)
    "holidays": _l("Around the holidays"), "exams": _l("Around the exams"),
    "term_start": _l("Around the start of term"),
    "freshmen": _l("After the freshmen arrive"),
    "major_event": _l("Around a major event"),
    "season_change": _l("Around the change of season"),
    "graduation": _l("Before the graduates leave"),
}
REPORT_STATUS_LABELS = {"received": _l("Received"), "in_progress": _l("Being handled"),
                        "case_opened": _l("A case was opened"),
                        "closed": _l("Closed without a case")}
ROUTINE_KIND_LABELS = {"weekly_class": _l("Weekly class report"),
                       "monthly_department": _l("Monthly department report")}
COMPLIANCE_LABELS = {"on_time": _l("On time"), "late": _l("Late"), "missing": _l("Missing"),
                     "running": _l("Not due yet"), "not_owed": _l("No reporter")}
GENDER_LABELS = {"male": _l("Male"), "female": _l("Female")}
SPECIAL_GROUP_LABELS = {  # casework.models.SpecialGroup
    "left_behind": _l("Left-behind child"), "migrant": _l("Migrant child"),
    "orphaned": _l("Orphaned or without a de facto carer"), "disabled": _l("Disability"),
    "low_income": _l("Family in financial difficulty"),
}
TIMELINE_LABELS = {"case": _l("Case"), "contact": _l("Hotline contact"),
                   "school_report": _l("School report"), "follow_up": _l("Follow-up"),
                   "screening": _l("Screening")}
# the district (accounts.models: OrgKind, SchoolKind, HospitalKind, UnitKind)
ORG_KIND_LABELS = {"hotline_centre": _l("Hotline centre"), "school": _l("School"),
                   "hospital": _l("Hospital")}
SCHOOL_KIND_LABELS = {"primary": _l("Primary school"), "junior_high": _l("Junior high school"),
                      "senior_high": _l("Senior high school"),
                      "vocational": _l("Secondary vocational school"),
                      "university": _l("College or university")}
HOSPITAL_KIND_LABELS = {
    "grade_2a_psychiatric_department": _l("Psychiatric department of a grade-2A or higher "
                                          "general hospital"),
    "specialist_psychiatric": _l("Specialist psychiatric hospital"),
    "brain_hospital": _l("Brain hospital"), "general": _l("Other")}
UNIT_KIND_LABELS = {"department": _l("Department (college)"), "grade": _l("Grade"),
                    "class": _l("Class"), "building": _l("Dormitory building"),
                    "dormitory": _l("Dormitory room")}


def choice_named(table: dict, text: str) -> str | None:
    """The key of ``table`` that ``text`` names: the key itself, or its label in Chinese or
    in English, as a form, a request or an imported file may write it; else None."""
    from crisisline.messages import chinese
    wanted = " ".join((text or "").split()).casefold()
    for key, message in table.items():
        if wanted in (key.casefold(), str(message._args[0]).casefold(),
                      chinese(message).casefold()):
            return key
    return None


def select_locale() -> str:
    if not has_request_context():  # the command line, a worker: the default language
        return DEFAULT_LANGUAGE
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return DEFAULT_LANGUAGE


def html_lang(locale: str) -> str:
    return "zh-CN" if locale.startswith("zh") else locale


def field_label(name: str) -> str:
    """A field's name as a person reads it; under testing, a field without a label (which
    would show its internal name) is refused."""
    if name not in FIELD_LABELS and has_app_context() and current_app.config.get("TESTING"):
        from crisisline.messages import Untranslated
        raise Untranslated(f"the field {name!r} has no label in crisisline.i18n.FIELD_LABELS")
    return str(FIELD_LABELS.get(name, name))


def label(table: dict, name: str):
    """``name``'s label from ``table`` (a message, shown in the reader's language), or the
    name itself when it is not one of the table's (what a person typed, e.g. in a URL)."""
    return table.get(name, name)


def template_globals() -> dict:
    def labeller(labels):
        return lambda value: labels.get(value, value)
    return {"LANGUAGES": LANGUAGES, "html_lang": html_lang,
            "role_label": labeller(ROLE_LABELS), "risk_label": labeller(RISK_LABELS),
            "channel_label": labeller(CHANNEL_LABELS), "state_label": labeller(STATE_LABELS),
            "report_kind_label": labeller(REPORT_KIND_LABELS),
            "report_status_label": labeller(REPORT_STATUS_LABELS),
            "routine_kind_label": labeller(ROUTINE_KIND_LABELS),
            "compliance_label": labeller(COMPLIANCE_LABELS),
            "key_period_kind_label": labeller(KEY_PERIOD_KIND_LABELS),
            "warning_state_label": labeller(WARNING_STATE_LABELS),
            "watch_decision_label": labeller(WATCH_DECISION_LABELS),
            "outcome_label": labeller(OUTCOME_LABELS), "event_label": labeller(EVENT_LABELS),
            "field_label": field_label, "choice_label": labeller(CHOICE_LABELS),
            "deadline_label": labeller(DEADLINE_LABELS),
            "presence_label": labeller(PRESENCE_LABELS), "cssrs_label": labeller(CSSRS_LABELS),
            "category_label": labeller(CATEGORY_LABELS),
            "triage_category_label": labeller(TRIAGE_CATEGORY_LABELS),
            "delivery_label": labeller(DELIVERY_LABELS),
            "contact_status_label": labeller(CONTACT_STATUS_LABELS),
            "wrap_up_label": labeller(WRAP_UP_LABELS),
            "record_label": labeller(RECORD_LABELS),
            "gender_label": labeller(GENDER_LABELS),
            "group_label": labeller(SPECIAL_GROUP_LABELS),
            "timeline_label": labeller(TIMELINE_LABELS),
            "org_kind_label": labeller(ORG_KIND_LABELS),
            "school_kind_label": labeller(SCHOOL_KIND_LABELS),
            "hospital_kind_label": labeller(HOSPITAL_KIND_LABELS),
            "identity_label": labeller(IDENTITY_LABELS),
            "unit_kind_label": labeller(UNIT_KIND_LABELS),
            "presence_events": lambda state: PRESENCE_EVENTS.get(state, [])}
