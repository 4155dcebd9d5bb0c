"""Which passwords Crisisline accepts, wherever one is set (the command line, the admin page,
the demo): at least 12 characters; not the username and not containing it; not one
character or a short pattern repeated, a run of digits or letters, or neighbouring keys;
not on the list of common passwords the project ships, nor one of those with digits or
symbols added before or after it.

``data/common_passwords.txt`` holds the 10,000 most common entries (most common first, one
per line, lowercased) of the list Django ships as ``django/contrib/auth/common-passwords.txt.gz``
(BSD licence), which Royce Williams compiled from passwords seen in public breaches.
"""
from __future__ import annotations

import secrets
import string
from functools import lru_cache
from pathlib import Path

from flask_babel import lazy_gettext as _l

MIN_LENGTH = 12
MIN_DISTINCT_CHARACTERS = 5
MIN_USERNAME_TO_MATCH = 4  # a shorter username ("li") is in too many good passwords
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common_passwords.txt"
# runs a person types without thinking: digits, the alphabet, keyboard rows and columns
SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm",
             "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "!@#$%^&*()_+")
DECORATION = string.digits + string.punctuation + string.whitespace
MIN_COMMON_CORE = 4  # "ab" + digits is a pattern, not a common word with digits added
# for generated passwords: no characters that are easily mistaken for one another
ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 16


def problem(password: str, username: str | None = None):
    """What is wrong with ``password`` for the user ``username`` (a translatable message
    naming the rule), or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return _l("a password needs at least %(n)d characters", n=MIN_LENGTH)
    lowered = password.lower()
    name = (username or "").strip().lower()
    if name and (lowered == name or (len(name) >= MIN_USERNAME_TO_MATCH and name in lowered)):
        return _l("a password must not contain the username")
    if _is_pattern(lowered):
        return _l("a password must not be repeated characters, a run of digits or letters, "
                  "or neighbouring keys")
    if _is_common(lowered):
        return _l("this password is too common and easy to guess; choose another")
    return None


def generate() -> str:
    """A random password that passes the rules (16 characters, about 92 bits)."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))
        if problem(candidate) is None:
            return candidate


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as lines:
        return frozenset(line.rstrip("\n").lower() for line in lines if line.strip())


def _is_pattern(lowered: str) -> bool:
    if len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        return True
    for period in range(1, len(lowered) // 2 + 1):  # "abcabcabcabc", "abcdeabcdeab"
        unit = lowered[:period]
        if (unit * (len(lowered) // period + 1)).startswith(lowered):
            return True
    for sequence in SEQUENCES:
        for direction in (sequence, sequence[::-1]):
            if lowered in direction * (len(lowered) // len(direction) + 2):
                return True
    return False


def _is_common(lowered: str) -> bool:
    common = common_passwords()
    core = lowered.strip(DECORATION)  # "iloveyou2024!" is "iloveyou" to a guesser
    return lowered in common or (len(core) >= MIN_COMMON_CORE and core in common)
