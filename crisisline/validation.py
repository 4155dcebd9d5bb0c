"""What text, dates and names may hold: checked once, for every way data comes in.

Three rules, each stated here and used by every entrance:

- **text** (any string a person or program sends): no unpaired surrogate (it cannot be
  encoded, so no database can store it) and no control character except tab, line feed
  and carriage return (PostgreSQL refuses NUL; the others only hide or garble text);
- **names** of people and organisations: text on one line, without the invisible
  characters that reorder or hide what is shown (bidi overrides, embeddings, isolates
  and marks), so that a name reads on screen as it was written;
- **dates**: between the years 1900 and 2100 (a year-1 date in a far time zone cannot even
  be converted to UTC).

Text is checked for the whole request before any view runs (:func:`check_request`, from
the app factory): every JSON string and key at any depth, every form field, query
parameter and uploaded file name, each refused with 422 naming its field. JSON nested
deeper than :data:`MAX_JSON_DEPTH` is refused with 400 before it is parsed. Names and
dates need to know what a field means, so they are field types: :class:`Name`,
:class:`Date` and :class:`AwareDateTime` for marshmallow schemas, :class:`NameRule` for
WTForms, :func:`name_problem` and :func:`local_datetime` for services and views. Socket
events carry no request: their handlers call :func:`text_problem` themselves.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, tzinfo

import marshmallow as ma
from flask import request
from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError as FormValidationError

from crisisline.errors import DomainError, InvalidInput
from crisisline.messages import Message

MAX_JSON_DEPTH = 32  # our deepest body (a workflow event's data) is 3 levels deep
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100

SURROGATE = re.compile("[\ud800-\udfff]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # all but \t \n \r
NAME_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# LRM, RLM, ALM; LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI
DIRECTION = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")

_exempt_blueprints: set[str] = set()


class TooDeep(DomainError):
    status = 400


def exempt_blueprint(name: str) -> None:
    """Leave a blueprint's requests to its own rules (Twilio's webhooks: a text message
    must not be lost to a 4xx, so they clean what they keep instead)."""
    _exempt_blueprints.add(name)


def text_problem(value: str):
    """What is wrong with a text value, or None."""
    if SURROGATE.search(value):
        return _l("contains an invalid character (an unpaired surrogate)")
    if CONTROL.search(value):
        return _l("contains a control character")
    return None


def name_problem(value: str):
    """What is wrong with a person's or organisation's name, or None."""
    if SURROGATE.search(value):
        return _l("contains an invalid character (an unpaired surrogate)")
    if NAME_CONTROL.search(value) or DIRECTION.search(value):
        return _l("a name may not contain control or text-direction characters")
    return None


def date_problem(value: date):
    """What is wrong with a date or datetime, or None."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return _l("must be a date between %(earliest)d and %(latest)d",
                  earliest=EARLIEST_YEAR, latest=LATEST_YEAR)
    return None


def local_datetime(raw: str, field: str, zone: tzinfo) -> datetime:
    """A browser's ``datetime-local`` value in ``zone``; InvalidInput naming ``field``."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput({field: _l("a date and time, e.g. 2026-11-22T09:30")}) from None
    problem = date_problem(value)
    if problem is not None:
        raise InvalidInput({field: problem})
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


# -- marshmallow fields ---------------------------------------------------------------------

class Name(ma.fields.String):
    """A person's or organisation's name."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = name_problem(value)
        if problem is not None:
            raise ma.ValidationError(Message(problem))
        return value


class Date(ma.fields.Date):
    """A date between 1900 and 2100."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = date_problem(value)
        if problem is not None:
            raise ma.ValidationError(Message(problem))
        return value


class AwareDateTime(ma.fields.AwareDateTime):
    """A moment with its time zone, between 1900 and 2100."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = date_problem(value)
        if problem is not None:
            raise ma.ValidationError(Message(problem))
        return value


# -- WTForms ---------------------------------------------------------------------------------

class NameRule:
    """WTForms validator: the field holds a name (see :func:`name_problem`)."""

    def __call__(self, form, field):
        problem = name_problem(field.data or "")
        if problem is not None:
            raise FormValidationError(str(problem))


# -- the request as a whole ------------------------------------------------------------------

def check_request() -> None:
    """Refuse a request that holds bad text anywhere or JSON nested too deep (before_request).

    Runs before the views and their schemas, so a view that reads ``request.form`` itself
    is as safe as one with a schema, and nothing is half-written.
    """
    if request.blueprint in _exempt_blueprints:
        return
    problems: dict[str, object] = {}
    for source in (request.args, request.form):
        for key, values in source.lists():
            _text_in(key, key, problems)
            for value in values:
                _text_in(value, key, problems)
    for key, upload in request.files.items(multi=True):
        _text_in(upload.filename or "", key, problems)
    if request.is_json:
        raw = request.get_data(cache=True)
        if _depth(raw) > MAX_JSON_DEPTH:
            raise TooDeep(_l("the JSON body is nested more than %(n)d levels deep",
                             n=MAX_JSON_DEPTH),
                          fields={"json": _l("nested too deep")})
        _walk(request.get_json(silent=True), "", problems)
    if problems:
        raise InvalidInput(problems)


def _text_in(value: str, field: str, problems: dict) -> None:
    problem = text_problem(value)
    field = field or "json"
    if problem is not None and field not in problems:
        problems[field] = problem


def _walk(value, path: str, problems: dict) -> None:
    if isinstance(value, str):
        _text_in(value, path, problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            _text_in(key, inner, problems)
            _walk(item, inner, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}.{index}" if path else str(index), problems)


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _depth(raw: bytes) -> int:
    """How deep a JSON text nests arrays and objects, without parsing it (parsing 5,000
    levels exhausts Python's recursion limit). Strings are skipped whole."""
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif bracket in (b"]", b"}"):
            depth -= 1
    return deepest


# -- phone numbers ---------------------------------------------------------------------------

class PhoneNumberError(ValueError):
    """A phone number that cannot be read; ``message`` (marked) says why, for the caller to
    show against its own field: ``InvalidInput({field: error.message})``."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


_PHONE_SEPARATORS = re.compile(r"[\s\-().\u00b7\u2010-\u2015\u2212\u3000]")
_MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
# nationwide numbers without an area code: public-service lines (12356 the psychological
# aid line, 12355 the youth line) and companies' 400/800 numbers (many hotlines use them)
_MAINLAND_NATIONWIDE = re.compile(r"12\d{3}|[48]00\d{7}")


def phone_number(text: str) -> str:
    """``text`` as an E.164 number, or :class:`PhoneNumberError`.

    What people type in China: an 11-digit mainland mobile (``13800138000``) becomes
    ``+8613800138000``; a landline with its area code (``010-12345678``,
    ``0755 1234567``) becomes ``+861012345678``; a nationwide number without an area code
    (``12356``, ``400-123-4567``) becomes ``+8612356``, ``+864001234567``; ``0086…`` and
    Excel's ``86…`` (it drops the ``+`` of a number it stores as a number) become
    ``+86…``. Anything starting with
    ``+`` keeps its country code (``+852…``). Spaces, hyphens, dots, brackets and
    full-width digits are accepted and dropped.
    """
    raw = unicodedata.normalize("NFKC", text or "").strip()
    if not raw:
        raise PhoneNumberError(_l("enter a phone number"))
    compact = _PHONE_SEPARATORS.sub("", raw)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isascii() or not digits.isdigit():
        raise PhoneNumberError(_l("a phone number holds only digits (and a leading +)"))
    if not plus and digits.startswith("00"):  # the international prefix dialled from China
        plus, digits = True, digits[2:]
    if not plus and len(digits) == 13 and digits.startswith("86") \
            and _MAINLAND_MOBILE.fullmatch(digits[2:]):
        plus, digits = True, digits  # a mobile with 86 before it, the + lost
    if plus:
        if digits.startswith("860"):  # the trunk 0 kept after +86: +86 010-…
            digits = "86" + digits[3:]
        if digits.startswith("86") and _MAINLAND_NATIONWIDE.fullmatch(digits[2:]):
            return "+" + digits
        if not 8 <= len(digits) <= 15 or digits.startswith("0"):
            raise PhoneNumberError(_l("an international number is + and its country code "
                                      "followed by 8 to 15 digits in all, e.g. "
                                      "+8613800138000"))
        return "+" + digits
    if _MAINLAND_MOBILE.fullmatch(digits) or _MAINLAND_NATIONWIDE.fullmatch(digits):
        return "+86" + digits
    if digits.startswith("0"):
        national = digits[1:]
        area = 2 if national[:1] in ("1", "2") else 3  # 010, 02x; else 0xxx
        subscriber = national[area:]
        if 7 <= len(subscriber) <= 8 and subscriber[0] != "0":
            return "+86" + national
    raise PhoneNumberError(_l("not a phone number: write an 11-digit mobile, a landline "
                              "with its area code (e.g. 010-12345678), or + and the "
                              "country code"))


class Phone(ma.fields.String):
    """A phone number, read by :func:`phone_number` and kept in E.164."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return phone_number(value)
        except PhoneNumberError as error:
            raise ma.ValidationError(Message(error.message)) from None
