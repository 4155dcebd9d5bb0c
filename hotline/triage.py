"""Text risk triage for SMS and web chat: which words raise a contact's priority, and why.

The lexicon is data (``hotline/data/risk_lexicon.json``): regular expressions with a risk
level, a weight and a category. Before matching, idioms that mention death without meaning
it (笑死, 要了我的命, "killing me") are masked; a term preceded by a negation (没有想自杀,
"I'm not going to kill myself") counts for nothing; where matches overlap, the longest wins
(以前自杀过 is history, not intent). A message's level is the highest level among its
matches, and every match is returned with its weight so a counselor can see why.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

LEVELS = ("none", "low", "moderate", "high", "imminent")
_CLAUSE_BREAK = re.compile(r"[，。,.!！?？;；、]")
PRIORITY_RAISING = ("high", "imminent")  # what moves a contact up the queue


@dataclass(frozen=True)
class Match:
    text: str
    level: str
    weight: int
    category: str
    start: int
    end: int


@dataclass(frozen=True)
class Assessment:
    level: str
    score: int
    matches: tuple[Match, ...] = field(default_factory=tuple)

    @property
    def raises_priority(self) -> bool:
        return self.level in PRIORITY_RAISING

    def explain(self) -> list[dict]:
        return [{"text": m.text, "level": m.level, "weight": m.weight, "category": m.category}
                for m in self.matches]


@dataclass(frozen=True)
class _Term:
    pattern: re.Pattern
    level: str
    weight: int
    category: str


@cache
def _lexicon() -> tuple[tuple[_Term, ...], re.Pattern, re.Pattern, int]:
    raw = json.loads(resources.files("hotline").joinpath("data/risk_lexicon.json")
                     .read_text(encoding="utf-8"))
    terms = tuple(_Term(re.compile(entry["pattern"], re.IGNORECASE), entry["level"],
                        entry["weight"], entry["category"]) for entry in raw["terms"])
    idioms = re.compile("|".join(re.escape(idiom) for idiom in
                                 sorted(raw["idioms"], key=len, reverse=True)), re.IGNORECASE)
    negation = re.compile("(" + "|".join(re.escape(word) for word in raw["negations"]) + ")",
                          re.IGNORECASE)
    return terms, idioms, negation, raw["negation_window"]


def assess(text: str) -> Assessment:
    """The risk a message's words carry, with the words that carry it."""
    terms, idioms, negation, window = _lexicon()
    masked = idioms.sub(lambda found: " " * len(found.group()), text or "")
    found = []
    for term in terms:
        for hit in term.pattern.finditer(masked):
            clause = _CLAUSE_BREAK.split(masked[max(0, hit.start() - window):hit.start()])[-1]
            if negation.search(clause):
                continue  # "没有想自杀": negated within the same clause
            found.append(Match(hit.group(), term.level, term.weight, term.category,
                               hit.start(), hit.end()))
    kept: list[Match] = []
    for match in sorted(found, key=lambda m: (m.end - m.start, m.weight), reverse=True):
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    kept.sort(key=lambda m: m.start)
    level = max((m.level for m in kept), key=LEVELS.index, default="none")
    return Assessment(level, sum(m.weight for m in kept), tuple(kept))


def raised(current: str, assessment: Assessment) -> str:
    """The contact's risk after a message: triage can raise it, never lower it."""
    return max(current, assessment.level, key=LEVELS.index)
