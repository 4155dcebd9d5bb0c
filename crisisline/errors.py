"""Errors that service functions raise and views turn into answers."""
from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class InvalidInput(DomainError):
    """Bad or missing data: ``fields`` maps each field to what is wrong with it."""

    status = 422

    def __init__(self, fields: dict[str, str], message: str = "invalid input"):
        super().__init__(message, fields=fields)
        self.fields = fields
