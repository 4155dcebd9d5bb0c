"""Volunteer presence, declared once: who can be offered a contact, and when.

offline → available ⇄ break; available → offered → busy (accept) or back to available
(decline or expiry); an offer let expire too many times in a row (the policy's
``missed_offers_to_away``) sets the person away instead, offered nothing until they say
they are back (or sign out); an on-duty counselor takes a warm transfer from available to
busy; busy → wrap_up → available; sign out from available, break, wrap_up or away.
"""
from __future__ import annotations

from transitions import Machine

from state_machines import attach

STATES = ("offline", "available", "offered", "busy", "wrap_up", "break", "away")

TRANSITIONS = (
    {"trigger": "sign_in", "source": "offline", "dest": "available"},
    {"trigger": "take_break", "source": "available", "dest": "break"},
    {"trigger": "end_break", "source": "break", "dest": "available"},
    {"trigger": "offer", "source": "available", "dest": "offered"},
    {"trigger": "accept", "source": "offered", "dest": "busy"},
    {"trigger": "release", "source": "offered", "dest": "available"},  # declined or expired
    {"trigger": "step_away", "source": "offered", "dest": "away"},  # expired once too often
    {"trigger": "come_back", "source": "away", "dest": "available"},
    {"trigger": "take_transfer", "source": "available", "dest": "busy"},
    {"trigger": "finish", "source": "busy", "dest": "wrap_up"},
    {"trigger": "ready", "source": "wrap_up", "dest": "available"},
    {"trigger": "sign_out", "source": ["available", "break", "wrap_up", "away"],
     "dest": "offline"},
)


def bind(presence) -> Machine:
    """A machine driving ``presence.state``; an event not allowed raises MachineError."""
    return attach(presence, states=list(STATES), transitions=list(TRANSITIONS))
