"""A screening warning's chain (seed 001 §二.(二)), declared once.

awaiting_interview (初筛预警: the 班主任/辅导员 talks with the student one to one) → cleared,
or → second_warning (二次预警) → graded (评估定级 by a psychology teacher or a centre
counselor: a crisis case, or the watch list). A scale never grades a student alone (seed
004): there is no way to ``graded`` but through an interview.
"""
from __future__ import annotations

from transitions import Machine

from state_machines import attach

STATES = ("awaiting_interview", "cleared", "second_warning", "graded")
INITIAL = "awaiting_interview"
FINAL = ("cleared", "graded")

TRANSITIONS = (
    {"trigger": "clear", "source": "awaiting_interview", "dest": "cleared"},
    {"trigger": "warn_again", "source": "awaiting_interview", "dest": "second_warning"},
    {"trigger": "grade", "source": "second_warning", "dest": "graded"},
)


def bind(warning) -> Machine:
    """A machine driving ``warning.state``; an event not allowed raises MachineError."""
    return attach(warning, states=list(STATES), transitions=list(TRANSITIONS))
