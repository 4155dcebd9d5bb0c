"""What a person is shown when something is refused or done, in the reader's language.

A message is a catalog message marked with ``lazy_gettext`` (``_l``), with named
placeholders; record types, fields, events and choices inside it are shown by their labels
(``crisisline.i18n``), never by their internal names. It reaches a person through
``shown`` (the error handlers' JSON and pages, ``pages.save``'s flashes, socket error
replies, the command line). Under testing, ``shown`` refuses a message that is not marked,
has no Chinese translation, or would show an internal name, and every flash is checked to
be a catalog message in the reader's language: each test that reaches a refusal checks its
language too.

marshmallow's own refusals ("Missing data for required field.") are replaced by catalog
messages (``Message``) when this module is imported, which the package does before any
schema is declared: marshmallow copies its messages into each field when it is declared.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import marshmallow as ma
from babel.support import Translations
from flask import current_app, has_app_context
from flask_babel import force_locale, get_locale, lazy_gettext as _l
from flask_babel.speaklater import LazyString

CATALOG_DIR = Path(__file__).resolve().parent / "translations"
DEFAULT_LANGUAGE = "zh_Hans_CN"
# a word made of lower-case parts joined by "_": how internal names are spelled
_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%%")


class Untranslated(AssertionError):
    """A message would reach a person unmarked, untranslated or with an internal name."""


class Shown(str):
    """Text already checked by ``shown``: the flash check does not look at it again."""


class SentName(str):
    """A field named as the request named it, shown as sent: a parameter of someone
    else's protocol (Twilio's ``MessageSid``), which has no label of ours."""


class Message(str):
    """A catalog message that marshmallow can carry.

    marshmallow treats its messages as ``str`` (it formats them and wraps them in lists),
    so this is one: ``format`` keeps marshmallow's values (``{min}``, ``{input}``...) for
    the message's named placeholders instead of rendering, and ``str()`` renders it in the
    reader's language.
    """

    def __new__(cls, lazy: LazyString):
        message = super().__new__(cls, lazy._args[0])
        message.lazy = lazy
        return message

    def format(self, *_args, **values) -> Message:
        return Message(_l(self.lazy._args[0], **{**self.lazy._kwargs, **values}))

    def __str__(self) -> str:
        return str(self.lazy)

    def __html__(self) -> str:
        return str(self.lazy)

    def __reduce__(self):
        return Message, (self.lazy,)

    def __copy__(self):
        return self

    def __deepcopy__(self, _memo):
        return self


def shown(message) -> Shown:
    """The text a person is shown for ``message`` (a marked message, a marshmallow
    ``Message``, or a list or mapping of them, as marshmallow reports a field)."""
    if isinstance(message, (list, tuple)):
        return Shown(str(_l("; ")).join(shown(item) for item in message))
    if isinstance(message, dict):
        return shown([problem_line(key, value) for key, value in message.items()])
    if isinstance(message, Shown):
        return message
    lazy = message.lazy if isinstance(message, Message) else message
    if _checking():
        _check(lazy)
    return Shown(str(lazy))


def refusal(message, **extra) -> dict:
    """A socket event's refused answer (its acknowledgement), saying why: ``{"ok": False,
    "error": ...}``."""
    return {"ok": False, "error": shown(message), **extra}


def problem_line(field: str | int | None, problem) -> Shown:
    """One refused field as a person reads it: "label: problem" (or the problem alone,
    when it is about the whole form)."""
    if field in (None, "", ma.exceptions.SCHEMA):
        return shown(problem)
    return shown(_l("%(field)s: %(problem)s", field=_field_name(field, problem),
                    problem=shown(problem)))


def problems(fields: dict) -> dict[str, Shown]:
    """Each refused field's problem as text, keyed by the field (for JSON answers)."""
    return {field: shown(problem) for field, problem in fields.items()}


def listing(items: list):
    """Several labels as one message, joined as the reader's language joins a list."""
    if len(items) == 1:
        return items[0]
    return _l("%(first)s, %(rest)s", first=items[0], rest=listing(items[1:]))


def _field_name(field: str | int, problem):
    """How a refusal names its field: by its label; an item of a list by its place; a
    field the form does not have by the name the request gave it."""
    from crisisline.i18n import field_label
    if isinstance(field, int):
        return _l("item %(n)d", n=field + 1)
    if isinstance(field, SentName):
        return str(field)
    unknown = SCHEMA_MESSAGES["unknown"]._args[0]
    if isinstance(problem, list) and problem and all(
            isinstance(item, Message) and item.lazy._args[0] == unknown for item in problem):
        return field
    return field_label(field)


# -- the checks (under testing) ---------------------------------------------------------

def _checking() -> bool:
    return has_app_context() and bool(current_app.config.get("TESTING"))


@cache
def _chinese() -> Translations:
    return Translations.load(str(CATALOG_DIR), [DEFAULT_LANGUAGE])


def chinese(message) -> str:
    """A marked message (without placeholders) as it reads in Chinese, whatever the
    reader's language: how a label is matched against what a file holds."""
    return _chinese().ugettext(message._args[0])


def _check(message) -> None:
    if not isinstance(message, LazyString) or not message._args \
            or not isinstance(message._args[0], str):
        raise Untranslated(f"an unmarked message would be shown: {message!r}; mark it with "
                           "lazy_gettext (_l) and translate it")
    msgid = message._args[0]
    if msgid not in _chinese()._catalog:
        raise Untranslated(f"no Chinese translation for {msgid!r}: add it to messages.po "
                           "and compile the catalog")
    for value in message._kwargs.values():
        if isinstance(value, (LazyString, Message)):
            _check(value.lazy if isinstance(value, Message) else value)
    with force_locale(DEFAULT_LANGUAGE):
        _check_names(str(message))


def _check_names(text: str) -> None:
    raw = set(_SNAKE_CASE.findall(text)) & internal_names()
    if raw:
        raise Untranslated(f"internal names {sorted(raw)} would be shown in {text!r}: "
                           "show them by their labels (crisisline.i18n)")


@cache
def internal_names() -> frozenset[str]:
    """The names the code uses for states, events, fields and choices: shown by label."""
    from crisisline import i18n
    names = set()
    for name, table in vars(i18n).items():
        if name.endswith(("_LABELS", "_EVENTS")) and isinstance(table, dict):
            names.update(key for key in table if isinstance(key, str))
            names.update(event for pairs in table.values() if isinstance(pairs, list)
                         for event, _label in pairs)
    return frozenset(names)


def check_flash(_app, message, category, **_extra) -> None:
    """Under testing (connected to ``message_flashed``): a flash is a catalog message in
    the reader's language, or text ``shown`` has checked."""
    if isinstance(message, Shown):
        return
    if not isinstance(message, str) or not _catalog_text(str(get_locale())).fullmatch(message):
        raise Untranslated(f"a flash that is not a translated catalog message: {message!r} "
                           f"({category}); flash _(...) of a translated message")
    _check_names(message)


@cache
def _catalog_text(locale: str) -> re.Pattern:
    """Any text of a catalog message as it reads in ``locale`` (placeholders filled)."""
    shown_text = (lambda msgid, msgstr: msgstr) if locale.startswith("zh") else \
        (lambda msgid, msgstr: msgid)
    patterns = []
    for msgid, msgstr in _chinese()._catalog.items():
        if not msgid or isinstance(msgid, tuple):
            continue
        template = shown_text(msgid, msgstr)
        if not _PLACEHOLDER.sub("", template).strip(" :：;；,，.。"):
            continue  # a frame for other messages ("%(field)s: %(problem)s") says nothing
        pieces = _PLACEHOLDER.split(template)
        fills = _PLACEHOLDER.findall(template)
        pattern = re.escape(pieces[0])
        for fill, piece in zip(fills, pieces[1:]):
            pattern += ("%" if fill == "%%" else "(?s:.+?)") + re.escape(piece)
        patterns.append(pattern)
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


# -- marshmallow in the reader's language -------------------------------------------------

FIELD_MESSAGES = {  # marshmallow's own messages, by field class and key
    ma.fields.Field: {"required": _l("required"), "null": _l("must not be empty"),
                      "validator_failed": _l("not a valid value")},
    ma.fields.Nested: {"type": _l("must be a group of named values")},
    ma.fields.List: {"invalid": _l("must be a list")},
    ma.fields.Tuple: {"invalid": _l("must be a list")},
    ma.fields.String: {"invalid": _l("must be text"), "invalid_utf8": _l("must be text")},
    ma.fields.UUID: {"invalid_uuid": _l("not a valid value")},
    ma.fields.Number: {"invalid": _l("must be a number"),
                       "too_large": _l("the number is too large")},
    ma.fields.Integer: {"invalid": _l("must be a whole number")},
    ma.fields.Float: {"special": _l("must be a number")},
    ma.fields.Decimal: {"special": _l("must be a number")},
    ma.fields.Boolean: {"invalid": _l("must be yes or no (true or false)")},
    ma.fields.DateTime: {"invalid": _l("must be a date and time, e.g. 2026-11-22T09:30+08:00"),
                         "invalid_awareness": _l("must be a date and time with its time zone, "
                                                 "e.g. 2026-11-22T09:30+08:00"),
                         "format": _l("must be a date and time")},
    ma.fields.Date: {"invalid": _l("must be a date, e.g. 2026-11-22"),
                     "format": _l("must be a date, e.g. 2026-11-22")},
    ma.fields.Time: {"invalid": _l("must be a time of day, e.g. 09:30")},
    ma.fields.TimeDelta: {"invalid": _l("must be a length of time"),
                          "format": _l("must be a length of time")},
    ma.fields.Mapping: {"invalid": _l("must be a group of named values")},
    ma.fields.Url: {"invalid": _l("must be a web address")},
    ma.fields.Email: {"invalid": _l("must be an email address")},
    ma.fields.IP: {"invalid_ip": _l("not a valid value")},
    ma.fields.IPInterface: {"invalid_ip_interface": _l("not a valid value")},
    ma.fields.Enum: {"unknown": _l("choose one of the options offered")},
}
SCHEMA_MESSAGES = {"type": _l("must be a group of named values"),
                   "unknown": _l("not a field of this form")}
VALIDATOR_MESSAGES = {  # (validator class, its attribute): message
    (ma.validate.Length, "message_min"): _l("must have at least %(min)d characters"),
    (ma.validate.Length, "message_max"): _l("must have at most %(max)d characters"),
    (ma.validate.Length, "message_all"): _l("must have %(min)d to %(max)d characters"),
    (ma.validate.Length, "message_equal"): _l("must have exactly %(equal)d characters"),
    (ma.validate.Range, "message_min"): _l("must be at least %(min)s"),
    (ma.validate.Range, "message_max"): _l("must be at most %(max)s"),
    (ma.validate.Range, "message_all"): _l("must be between %(min)s and %(max)s"),
    (ma.validate.OneOf, "default_message"): _l("choose one of the options offered"),
    (ma.validate.ContainsOnly, "default_message"): _l("choose only among the options offered"),
    (ma.validate.ContainsNoneOf, "default_message"): _l("not a valid value"),
    (ma.validate.NoneOf, "default_message"): _l("not a valid value"),
    (ma.validate.Equal, "default_message"): _l("not a valid value"),
    (ma.validate.Regexp, "default_message"): _l("not in the expected form"),
    (ma.validate.Predicate, "default_message"): _l("not a valid value"),
    (ma.validate.URL, "default_message"): _l("must be a web address"),
    (ma.validate.Email, "default_message"): _l("must be an email address"),
}


def _install() -> None:
    fields = {field_class for field_class in vars(ma.fields).values()
              if isinstance(field_class, type) and issubclass(field_class, ma.fields.Field)
              and "default_error_messages" in field_class.__dict__}
    for field_class in fields | set(FIELD_MESSAGES):
        own = {**field_class.__dict__.get("default_error_messages", {}),
               **FIELD_MESSAGES.get(field_class, {})}
        field_class.default_error_messages = {key: Message(_field_message(field_class, key))
                                              for key in own}
    ma.Schema._default_error_messages = {key: Message(message)
                                         for key, message in SCHEMA_MESSAGES.items()}
    for (validator, attribute), message in VALIDATOR_MESSAGES.items():
        setattr(validator, attribute, Message(message))


def _field_message(field_class: type, key: str):
    """Our message for ``key`` of ``field_class``: its own, or its nearest base class's."""
    for base in field_class.__mro__:
        if key in FIELD_MESSAGES.get(base, {}):
            return FIELD_MESSAGES[base][key]
    return _l("not a valid value")


_install()
