"""Browser forms for workflow events, generated from each event's schema.

The schema in ``casework.workflow`` is the one statement of what an event needs; the page
draws its form from it and turns the submitted form back into the schema's input.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app

from casework.workflow import HANDLERS


@dataclass(frozen=True)
class FormField:
    name: str
    widget: str  # text | textarea | number | checkbox | date | datetime | select | multi
    required: bool
    choices: tuple[str, ...] = ()


def event_form(event: str) -> list[FormField]:
    schema = HANDLERS[event][0]()
    return [_form_field(name, field) for name, field in schema.fields.items()]


def _choices(field: ma.fields.Field) -> tuple[str, ...]:
    for validator in field.validators:
        if isinstance(validator, ma.validate.OneOf):
            return tuple(validator.choices)
    return ()


def _form_field(name: str, field: ma.fields.Field) -> FormField:
    required = field.required
    if isinstance(field, ma.fields.List):
        return FormField(name, "multi", required, _choices(field.inner))
    if _choices(field):
        return FormField(name, "select", required, _choices(field))
    widget = ("checkbox" if isinstance(field, ma.fields.Boolean) else
              "number" if isinstance(field, ma.fields.Integer) else
              "datetime" if isinstance(field, ma.fields.DateTime) else
              "date" if isinstance(field, ma.fields.Date) else
              "textarea" if name in ("support_plan", "reason", "note") else "text")
    return FormField(name, widget, required)


def event_data(event: str, form) -> dict:
    """The submitted form as the event schema's input (validation is the schema's job)."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    data: dict = {}
    for field in event_form(event):
        raw = form.get(field.name, "")
        if field.widget == "checkbox":
            data[field.name] = field.name in form
        elif field.widget == "multi":
            data[field.name] = form.getlist(field.name)
        elif raw == "":
            continue  # missing: the schema names it if it is required
        elif field.widget == "number":
            try:
                data[field.name] = int(raw)
            except ValueError:
                data[field.name] = raw  # the schema names it
        elif field.widget == "datetime":  # the browser sends local time, without a zone
            try:
                data[field.name] = datetime.fromisoformat(raw).replace(tzinfo=zone).isoformat()
            except ValueError:
                data[field.name] = raw
        else:
            data[field.name] = raw
    return data
