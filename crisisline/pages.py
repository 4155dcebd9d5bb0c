"""What every console form does with a change: commit it and say so, or say what was
wrong and keep what the person typed."""
from __future__ import annotations

from typing import Callable, TypeVar

from flask import flash, request

from crisisline.database import db
from crisisline.errors import Conflict, InvalidInput
from crisisline.messages import problem_line, shown

T = TypeVar("T")


def save(change: Callable[[], T], done=None) -> T | None:
    """Run ``change`` and commit it, flashing ``done`` (a marked message); on bad input or
    a conflict, roll back, flash each problem in the reader's language and return None
    (nothing is changed). A view that then shows the form again (not a redirect) keeps
    what was typed (``typed``)."""
    try:
        result = change()
    except InvalidInput as error:
        db.rollback()
        for field, problem in error.fields.items():
            flash(problem_line(field, problem), "error")
        if not error.fields:
            flash(shown(error.message), "error")
        return None
    except Conflict as error:
        db.rollback()
        flash(shown(error.message), "error")
        return None
    db.commit()
    if done:
        flash(shown(done), "success")
    return result


def typed(action: str, name: str, default=""):
    """What the person typed into field ``name`` of the form posted to ``action`` (when
    this page answers that post, because it was refused), else ``default``."""
    if request.method == "POST" and request.path == action and name in request.form:
        return request.form.get(name)
    return default


def typed_list(action: str, name: str, default=()) -> list:
    """The values ticked in field ``name`` of the refused form posted to ``action``."""
    if request.method == "POST" and request.path == action:
        return request.form.getlist(name)
    return list(default)


def form_id(raw: str | None) -> int | None:
    """A form's record number (a picker's hidden value), or None: never a 500 for '²' or a
    30-digit value."""
    try:
        value = int(raw or "")
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None
