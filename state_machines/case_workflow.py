"""The crisis case workflow (seed 003 §四.(三)), declared once.

From a report to the scene, the guardian, the hospital, leave and return, and follow-up.
The states and events below are the whole of it: the service layer binds a ``transitions``
machine to a case's ``state`` column for each event it applies, the API lists
``allowed_events`` from the same table, and the workflow picture is drawn from it.
"""
from __future__ import annotations

from dataclasses import dataclass

from transitions import Machine

from state_machines import attach

STATES = ("reported", "on_site", "guardian_contact", "hospital_transfer", "on_leave",
          "return_review", "follow_up", "closed", "withdrawn")
INITIAL = "reported"
FINAL = ("closed", "withdrawn")


@dataclass(frozen=True)
class Event:
    name: str
    source: str
    dest: str | None  # None: stays in ``source`` (an internal transition)
    roles: frozenset[str]

    @property
    def target(self) -> str:
        return self.dest or self.source


def _event(name: str, source: str, dest: str | None, *roles: str) -> Event:
    return Event(name, source, dest, frozenset(roles))


EVENTS: tuple[Event, ...] = (
    _event("triage_support", "reported", "follow_up", "counselor"),
    _event("dispatch", "reported", "on_site", "counselor", "supervisor"),
    _event("escalate", "follow_up", "on_site", "counselor", "supervisor"),
    _event("contact_guardian", "on_site", "guardian_contact", "counselor"),
    _event("refer_to_hospital", "guardian_contact", "hospital_transfer", "counselor"),
    _event("home_supervision", "guardian_contact", "follow_up", "counselor"),
    _event("confirm_arrival", "hospital_transfer", None, "hospital_liaison"),
    _event("return_to_class", "hospital_transfer", "follow_up", "counselor"),
    _event("start_leave", "hospital_transfer", "on_leave", "counselor"),
    _event("apply_return", "on_leave", "return_review", "counselor"),
    _event("approve_return", "return_review", "follow_up", "supervisor"),
    _event("reject_return", "return_review", "on_leave", "supervisor"),
    _event("withdraw", "on_leave", "withdrawn", "supervisor"),
    _event("close", "follow_up", "closed", "supervisor"),
    _event("reopen", "closed", "follow_up", "counselor", "supervisor"),
)
EVENTS_BY_NAME = {event.name: event for event in EVENTS}


def events_from(state: str) -> list[Event]:
    return [event for event in EVENTS if event.source == state]


def bind(case) -> Machine:
    """A machine driving ``case.state``; firing ``case.trigger(name)`` moves the case.

    Only the declared events exist (``auto_transitions=False``), and an event fired in a
    state it does not leave from raises ``transitions.MachineError``.
    """
    return attach(case, states=list(STATES),
                  transitions=[{"trigger": e.name, "source": e.source, "dest": e.dest}
                               for e in EVENTS])
