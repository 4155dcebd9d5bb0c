"""Text risk triage for SMS and web chat: which words raise a contact's priority, and why.

The lexicon is data (``hotline/data/risk_lexicon.json``): regular expressions with a risk
level, a weight and a category. Before matching, idioms that mention death without meaning
it (笑死, 要了我的命, "killing me") are masked; a term preceded by a negation (没有想自杀,
"I'm not going to kill myself") counts for nothing, unless the negation is part of a question
(有没有, 是不是); where matches overlap, the longest wins (以前自杀过 is history, not intent).
A term may name contexts it does not count in: a bare mention of 自杀 or "suicide" in a
question about a novel, a lesson or history; being on a roof to dry the laundry. Such a
match is set aside and the assessment says which and why; the lexicon gives no such escape
to a first-person statement (想自杀, "kill myself") or to a danger sign (climbing a railing).
A message's level is the highest level among its matches, and every match is returned with
its weight so a counselor can see why. Beside it, a learned model gives a second opinion
(``judge``): it can raise a message to high or imminent, never lower it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from hotline.triage_model import Opinion, opinion

LEVELS = ("none", "low", "moderate", "high", "imminent")
# Punctuation ends a clause, and so does a line break or a space after a Chinese character:
# students often write "我不想活了 等考完就走" with spaces instead of commas.
_CLAUSE_BREAK = re.compile(r"[，。,.!！?？;；、~～…\n]|(?<=[\u3400-\u9fff])[ \t\u3000]+")
_SENTENCE_BREAK = re.compile(r"[。！？!?\n]|\.(\s|$)")
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
    # (match, context) for terms that matched but were set aside because the message is about
    # something else (a book, a lesson, laundry on the roof): shown to a counselor, not counted.
    set_aside: tuple[tuple[Match, str], ...] = field(default_factory=tuple)

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
    unless: tuple[str, ...] = ()  # names of contexts in which the term does not count


@dataclass(frozen=True)
class _Lexicon:
    terms: tuple[_Term, ...]
    idioms: re.Pattern
    negation: re.Pattern
    window: int
    latin_window: int  # English words are longer: "i dont want to | kill myself"
    questions: re.Pattern | None  # 有没有, 是不是: a question, not a negation
    contexts: dict[str, tuple[re.Pattern, str]]  # name: (pattern, "message" or "sentence")


@cache
def _lexicon() -> tuple[tuple[_Term, ...], re.Pattern, re.Pattern, int]:
    """The terms, idioms, negations and negation window (for tests and tools)."""
    lexicon = _load()
    return lexicon.terms, lexicon.idioms, lexicon.negation, lexicon.window


@cache
def _load() -> _Lexicon:
    raw = json.loads(resources.files("hotline").joinpath("data/risk_lexicon.json")
                     .read_text(encoding="utf-8"))
    contexts = {name: (re.compile("|".join(f"(?:{pattern})" for pattern in context["patterns"]),
                                  re.IGNORECASE), context["within"])
                for name, context in raw.get("contexts", {}).items()}
    if any(within not in ("message", "sentence") for _, within in contexts.values()):
        raise ValueError("risk lexicon: a context is looked for within a message or a sentence")
    terms = tuple(_Term(re.compile(entry["pattern"], re.IGNORECASE), entry["level"],
                        entry["weight"], entry["category"], tuple(entry.get("unless", ())))
                  for entry in raw["terms"])
    unknown = {name for term in terms for name in term.unless} - set(contexts)
    if unknown:
        raise ValueError(f"risk lexicon: terms name unknown contexts {sorted(unknown)}")
    idioms = re.compile("|".join(re.escape(idiom) for idiom in
                                 sorted(raw["idioms"], key=len, reverse=True)), re.IGNORECASE)
    negation = re.compile("(" + "|".join(re.escape(word) for word in raw["negations"]) + ")",
                          re.IGNORECASE)
    questions = (re.compile("|".join(re.escape(word) for word in raw["question_forms"]))
                 if raw.get("question_forms") else None)
    return _Lexicon(terms, idioms, negation, raw["negation_window"],
                    raw.get("negation_window_latin", raw["negation_window"]), questions, contexts)


def assess(text: str) -> Assessment:
    """The risk a message's words carry, with the words that carry it."""
    lexicon = _load()
    text = (text or "").replace("\u2019", "'").replace("\u2018", "'")  # phones type i’m
    masked = lexicon.idioms.sub(lambda found: " " * len(found.group()), text)
    found, set_aside = [], []
    for term in lexicon.terms:
        for hit in term.pattern.finditer(masked):
            if _negated(masked, hit.start(), lexicon):
                continue  # "没有想自杀": negated within the same clause
            match = Match(hit.group(), term.level, term.weight, term.category,
                          hit.start(), hit.end())
            context = next((name for name in term.unless
                            if _in_context(masked, hit, *lexicon.contexts[name])), None)
            if context:  # "屈原为什么要自杀" in a question about a lesson
                set_aside.append((match, context))
                continue
            found.append(match)
    kept: list[Match] = []
    for match in sorted(found, key=lambda m: (m.end - m.start, m.weight), reverse=True):
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    kept.sort(key=lambda m: m.start)
    level = max((m.level for m in kept), key=LEVELS.index, default="none")
    return Assessment(level, sum(m.weight for m in kept), tuple(kept), tuple(set_aside))


def _in_context(text: str, hit: re.Match, pattern: re.Pattern, within: str) -> bool:
    """Whether a context's words are in the message, or in the sentence of ``hit``."""
    if within == "sentence":
        starts = [end.end() for end in _SENTENCE_BREAK.finditer(text, 0, hit.start())]
        end = _SENTENCE_BREAK.search(text, hit.end())
        text = text[starts[-1] if starts else 0:end.start() if end else len(text)]
    return bool(pattern.search(text))


def _negated(text: str, start: int, lexicon: _Lexicon) -> bool:
    """Whether a negation comes shortly before ``start`` in the same clause."""
    previous = text[:start].rstrip()[-1:]
    latin = previous.isascii() and previous.isalpha()
    window = lexicon.latin_window if latin else lexicon.window
    clause = _CLAUSE_BREAK.split(text[max(0, start - window):start])[-1]
    if lexicon.questions is not None:
        clause = lexicon.questions.sub(" ", clause)
    return bool(lexicon.negation.search(clause))


@dataclass(frozen=True)
class Judgement:
    """A message's triage: the lexicon's assessment and the learned model's second opinion
    (``hotline.triage_model``); its level is the higher of the two."""

    lexicon: Assessment
    model: Opinion

    @property
    def level(self) -> str:
        return max(self.lexicon.level, self.model.level, key=LEVELS.index)

    @property
    def raises_priority(self) -> bool:
        return self.level in PRIORITY_RAISING

    def explain(self) -> dict:
        """What the contact page shows: the level, the lexicon's words with their weights,
        the model's probability and the labelled examples nearest the message."""
        return {"level": self.level, "score": self.lexicon.score,
                "matches": self.lexicon.explain(), "model": self.model.explain()}


def judge(text: str) -> Judgement:
    """The lexicon's assessment of a message, with the model's second opinion (which needs
    less to raise a message in which the lexicon found thoughts of death)."""
    lexicon = assess(text)
    return Judgement(lexicon, opinion(text, ideation=lexicon.level == "moderate"))


def raised(current: str, judged: Assessment | Judgement) -> str:
    """The contact's risk after a message: triage can raise it, never lower it."""
    return max(current, judged.level, key=LEVELS.index)
