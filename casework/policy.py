"""The crisis policy: every deadline and threshold in one place, casework and hotline.

The defaults restate seed 003 and domain.md. A region overrides any of them with a JSON
file named by ``CRISISLINE_POLICY_FILE``, e.g. ``{"guardian_reached_minutes": 45}``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path

from flask import current_app

from crisisline.config import ConfigError


@dataclass(frozen=True)
class Policy:
    responder_on_site_minutes: int = 30  # after dispatch
    guardian_reached_minutes: int = 60  # after contact_guardian; then school consent opens
    hospital_arrival_hours: int = 4  # after refer_to_hospital
    first_follow_up_hours: int = 24  # after entering follow-up (48 at most)
    weekly_follow_ups: int = 4  # then weekly for a month...
    monthly_follow_up_days: int = 30  # ...then monthly
    outpatient_follow_up_days: int = 7  # after hospital discharge
    daily_report_hours: int = 24  # 日报告/零报告 for high-risk students in follow-up
    daily_report_escalation_hours: int = 2  # a missed one tells the school's reporters
    # first; still missing this long after, the case owner and supervisors
    report_triage_minutes: int = 15  # a school's at-risk report nobody has taken: the
    # supervisors are texted
    routine_report_grace_hours: int = 24  # a weekly or monthly report not in by the end
    # of its period plus this: the level above is alerted
    leave_reminder_days: int = 3  # before a leave's expected end
    # key periods (重要时段, seed 002): when one starts at a school, every case of its
    # students in follow-up is reviewed within these days (met by a follow-up contact)
    key_period_review_days: int = 7
    # during a key period, the class psychological committee members report this many
    # times a week (the weekly class reports read it)
    key_period_class_reports_per_week: int = 2
    # screening (心理普测, seed 001): a result warns (预警) from these totals (a custom
    # scale: its own cut-off); PHQ-9's self-harm item (9) from this answer warns urgently
    phq9_warning_total: int = 10
    phq9_self_harm_answer: int = 1
    gad7_warning_total: int = 10
    # the warning's one-to-one interview is due within these (urgent: the self-harm item)
    screening_urgent_interview_hours: int = 24
    screening_interview_days: int = 7
    # the watch list (动态清单): a review missed is told to its owner, and still missed this
    # long after, to the school's psychology centre
    watch_review_escalation_days: int = 3
    watch_review_days: int = 30  # a review meeting's "keep" without a date: next review
    min_follow_ups_to_close: int = 2
    deadline_poll_seconds: int = 1  # every worker polls this often
    # the hotline queue
    offer_seconds: int = 20  # an unanswered offer goes to the next person
    counselor_escalation_seconds: int = 30  # then on-duty counselors are offered it too
    rollover_seconds: int = 90  # then a call rolls over to the backup line
    text_alert_minutes: int = 5  # a high-risk text or chat unanswered: the supervisor is told
    missed_offers_to_away: int = 2  # offers let expire in a row: the person is set away
    declined_offer_seconds: int = 120  # a contact declined or missed never returns sooner
    # access
    break_glass_per_hour: int = 5  # grants one person may open in an hour: at the limit the
    # centre's supervisors are alerted, and further requests are refused until it passes

    def __post_init__(self):
        for item in fields(self):
            if getattr(self, item.name) <= 0:
                raise ConfigError(f"CRISISLINE_POLICY_FILE: {item.name} must be positive")
        if self.first_follow_up_hours > 48:
            raise ConfigError("CRISISLINE_POLICY_FILE: first_follow_up_hours must be at most "
                              "48 (the first follow-up is due within 24-48 hours)")

    def delay(self, name: str) -> timedelta:
        value = getattr(self, name)
        unit = name.rsplit("_", 1)[1]
        return timedelta(**{unit: value})


def load_policy(path: str | None) -> Policy:
    if not path:
        return Policy()
    try:
        overrides = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"CRISISLINE_POLICY_FILE: cannot read {path}: {error}") from None
    known = {item.name for item in fields(Policy)}
    if not isinstance(overrides, dict) or set(overrides) - known:
        raise ConfigError(f"CRISISLINE_POLICY_FILE: unknown settings "
                          f"{sorted(set(overrides) - known)}; known: {sorted(known)}")
    if not all(isinstance(value, int) and not isinstance(value, bool)
               for value in overrides.values()):
        raise ConfigError("CRISISLINE_POLICY_FILE: every setting is a whole number")
    return replace(Policy(), **overrides)


def policy() -> Policy:
    return current_app.extensions["crisisline.policy"]
