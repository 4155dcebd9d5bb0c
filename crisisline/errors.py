"""Errors that service functions raise and views turn into answers.

Their messages are shown to people: mark each with ``lazy_gettext`` (``_l``), with named
placeholders, and translate it (see ``crisisline.messages``).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    status = 400

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Hidden(NotFound):
    """A record the user may not see, answered 404 as if it did not exist (so as not to
    disclose it), and audited as a refusal. What was refused stays off the answer."""

    def __init__(self, message: str, *, object_type: str, object_id: int):
        super().__init__(message)
        self.object_type, self.object_id = object_type, object_id


class Forbidden(DomainError):
    status = 403


class RateLimited(Forbidden):
    """Refused because the user did this too often; audited like any refusal."""

    status = 429


class Conflict(DomainError):
    status = 409


class InvalidInput(DomainError):
    """Bad or missing data: ``fields`` maps each field to what is wrong with it."""

    status = 422
    default_message = _l("Some of what you entered is not valid.")

    def __init__(self, fields: dict, message=None):
        super().__init__(message or self.default_message, fields=fields)
        self.fields = fields
