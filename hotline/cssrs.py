"""The C-SSRS screener: six questions with their skip logic, and Columbia's triage.

1 wish to be dead · 2 suicidal thoughts · (only if 2 is yes: 3 method · 4 intent · 5 plan)
· 6 suicidal behaviour, and if yes, whether within the last 3 months.
Risk: high for intent or a plan, or behaviour in the last 3 months; moderate for a method
without intent, or behaviour longer ago; low for a wish to be dead or thoughts alone.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from crisisline.errors import InvalidInput

QUESTIONS = ("wish_dead", "thoughts", "method", "intent", "plan", "behaviour")
ONLY_AFTER_THOUGHTS = ("method", "intent", "plan")


def risk(answers: dict) -> str:
    """The screened risk level; refuses answers that break the skip logic, naming them."""
    problems = {}
    for question in ("wish_dead", "thoughts", "behaviour"):
        if not isinstance(answers.get(question), bool):
            problems[question] = _l("answer yes or no")
    thoughts = answers.get("thoughts") is True
    for question in ONLY_AFTER_THOUGHTS:
        if thoughts and not isinstance(answers.get(question), bool):
            problems[question] = _l("asked when there are suicidal thoughts: answer yes or no")
        if not thoughts and answers.get(question) is not None:
            problems[question] = _l("skipped when there are no suicidal thoughts")
    behaviour = answers.get("behaviour") is True
    if behaviour and not isinstance(answers.get("behaviour_recent"), bool):
        problems["behaviour_recent"] = _l("was it within the last 3 months? answer yes or no")
    if set(answers) - {*QUESTIONS, "behaviour_recent"}:
        problems["answers"] = _l("questions that are not part of the screen")
    if problems:
        raise InvalidInput(problems)
    if answers.get("intent") or answers.get("plan") or (behaviour and answers["behaviour_recent"]):
        return "high"
    if answers.get("method") or behaviour:
        return "moderate"
    if answers["wish_dead"] or thoughts:
        return "low"
    return "none"
