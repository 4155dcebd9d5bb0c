"""State machines declared once: the crisis case workflow, volunteer presence and the
screening warning chain."""
from __future__ import annotations

from transitions import Machine


def attach(model, **declaration) -> Machine:
    """The machine driving ``model.state``, built on first use and kept with the object.

    transitions binds a machine's triggers (``trigger``, ``may_<event>``, ``is_<state>``)
    onto the object itself; a second machine for the same object found them taken, kept
    the first's and logged a warning for each name, every time an object was moved twice
    in one transaction. The machine reads the state from the object on every event, so
    the one kept stays right whatever changed the state since.
    """
    machine = model.__dict__.get("_state_machine")
    if machine is None:
        machine = Machine(model=model, initial=model.state, model_attribute="state",
                          auto_transitions=False, **declaration)
        model._state_machine = machine
    return machine
