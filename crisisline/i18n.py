"""Simplified Chinese by default, English on request."""
from __future__ import annotations

from flask import request, session
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
OUTCOME_LABELS = {"success": _l("Done"), "denied": _l("Refused"), "failure": _l("Failed")}
REPORT_KIND_LABELS = {"at_risk": _l("Student at risk"), "daily": _l("Daily report"),
                      "zero": _l("Zero report")}


def select_locale() -> str:
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


def template_globals() -> dict:
    def labeller(labels):
        return lambda value: labels.get(value, value)
    return {"LANGUAGES": LANGUAGES, "html_lang": html_lang,
            "role_label": labeller(ROLE_LABELS), "risk_label": labeller(RISK_LABELS),
            "channel_label": labeller(CHANNEL_LABELS), "state_label": labeller(STATE_LABELS),
            "report_kind_label": labeller(REPORT_KIND_LABELS),
            "outcome_label": labeller(OUTCOME_LABELS)}
