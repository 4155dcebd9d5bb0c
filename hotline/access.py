"""Who may read and review the hotline's triage feedback (registered with the shell's access
rules; the contacts' own rules are still in ``crisisline.access.rules``).

A volunteer or counselor reads the feedback they gave; the supervisors of the centre read
and review all of it (accept it as a labelled example, or reject it).
"""
from __future__ import annotations

from crisisline.access.rules import ACTIONS, VIEW, rule, scope
from crisisline.accounts.models import Role, User
from hotline.models import TriageFeedback


@rule(TriageFeedback, (VIEW,), Role.VOLUNTEER, Role.COUNSELOR)
def _own_feedback(user: User, feedback: TriageFeedback) -> bool:
    return feedback.given_by_id == user.id


@rule(TriageFeedback, ACTIONS, Role.SUPERVISOR)
def _centre_reviews_feedback(user: User, feedback: TriageFeedback) -> bool:
    return feedback.centre_id in user.centre_ids


@scope(TriageFeedback, Role.VOLUNTEER, Role.COUNSELOR)
def _own_feedback_listed(user: User):
    return TriageFeedback.given_by_id == user.id


@scope(TriageFeedback, Role.SUPERVISOR)
def _centre_feedback_listed(user: User):
    return TriageFeedback.centre_id.in_(user.centre_ids)
