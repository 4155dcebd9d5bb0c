"""Text risk triage: raise every imminent and high message, never a harmless one, and say why."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.triage import LEVELS, _lexicon, assess, raised

HERE = Path(__file__).parent
SHARED = HERE.parent.parent.parent / "shared" / "data" / "risk_messages_dev.jsonl"


def examples(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


LABELLED = examples(SHARED) + examples(HERE / "triage_examples.jsonl")


def test_there_are_labelled_examples_of_every_level():
    assert {row["level"] for row in LABELLED} == set(LEVELS)


@pytest.mark.parametrize("row", [r for r in LABELLED if r["level"] in ("high", "imminent")],
                         ids=lambda row: row["text"][:30])
def test_every_high_or_imminent_message_raises_the_priority(row):
    assert assess(row["text"]).raises_priority


@pytest.mark.parametrize("row", [r for r in LABELLED if r["level"] == "none"],
                         ids=lambda row: row["text"][:30])
def test_idioms_questions_and_everyday_speech_never_raise_it(row):
    assert assess(row["text"]).level == "none"


@pytest.mark.parametrize("row", LABELLED, ids=lambda row: row["text"][:30])
def test_each_example_gets_the_level_a_counselor_gave_it(row):
    assert assess(row["text"]).level == row["level"]


def test_the_decision_names_its_words_and_their_weights():
    assessment = assess("遗书已经写好了，今晚就结束吧")
    words = {match.text: (match.level, match.weight) for match in assessment.matches}
    assert words["遗书"] == ("high", 7)
    assert assessment.score == sum(weight for _, weight in words.values())
    assert {"text", "level", "weight", "category"} <= set(assessment.explain()[0])


def test_a_negation_counts_only_in_its_own_clause():
    assert assess("我没有想自杀").level == "none"
    assert assess("我不想再这样下去了，想自杀").level == "high"


def test_history_is_not_read_as_intent():
    assert assess("以前自杀过，现在好多了").level == "moderate"


@given(current=st.sampled_from(LEVELS), text=st.text(max_size=60))
def test_triage_never_lowers_a_contacts_risk(current, text):
    after = raised(current, assess(text))
    assert LEVELS.index(after) >= LEVELS.index(current)


def test_the_lexicon_is_well_formed():
    terms, idioms, negation, window = _lexicon()
    assert terms and window > 0
    assert all(term.level in LEVELS[1:] and term.weight > 0 for term in terms)
    assert all(isinstance(term.pattern, re.Pattern) for term in terms)
