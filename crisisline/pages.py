"""What every console form does with a change: commit it, or say what was wrong."""
from __future__ import annotations

from typing import Callable, TypeVar

from flask import flash

from crisisline.database import db
from crisisline.errors import Conflict, InvalidInput
from crisisline.i18n import field_label

T = TypeVar("T")


def save(change: Callable[[], T], done: str | None = None) -> T | None:
    """Run ``change`` and commit it; on bad input or a conflict, roll back, flash each
    problem in the reader's language and return None (nothing is changed)."""
    try:
        result = change()
    except InvalidInput as error:
        db.rollback()
        for field, problem in error.fields.items():
            flash(f"{field_label(field)}: {problem}" if field else problem, "error")
        return None
    except Conflict as error:
        db.rollback()
        flash(error.message, "error")
        return None
    db.commit()
    if done:
        flash(done, "success")
    return result
