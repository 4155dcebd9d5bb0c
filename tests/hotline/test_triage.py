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


def test_a_bare_mention_in_a_question_about_a_book_is_set_aside_and_said_so():
    assessment = assess("语文课上讲《雷雨》，四凤为什么要自杀？")
    assert assessment.level == "none"
    assert [(match.text, context) for match, context in assessment.set_aside] == [
        ("自杀", "discussion")]
    assert assess("for my essay: does the novel romanticize suicide?").level == "none"


def test_a_book_or_lesson_never_hides_a_first_person_statement():
    assert assess("看完《挪威的森林》我也想自杀").level == "high"
    assert assess("this book makes me want to kill myself").level == "high"
    assert assess("我朋友说她看完那部电影也想死，还说买了药").raises_priority


def test_an_everyday_reason_to_be_up_high_counts_only_in_its_own_sentence():
    assert assess("我在天台上晒被子").level == "none"
    assert assess("on the roof taking photos of the sunset").level == "none"
    assert assess("昨天在天台晒被子。现在我又在天台上了").level == "imminent"
    assert assess("在天台晒被子的时候翻过了栏杆").level == "imminent"  # a danger sign has no escape


def test_a_question_form_is_not_a_negation():
    assert assess("有没有不痛的死法").level == "high"
    assert assess("我是不是该去自杀").level == "high"
    assert assess("我没有想自杀").level == "none"


def test_an_english_negation_reaches_back_a_few_words_but_not_across_them():
    assert assess("i dont want to kill myself, i just need to talk").level == "none"
    assert assess("i'm not ok and i want to kill myself").level == "high"
    assert assess("i’m on the roof").level == "imminent"  # a phone's curly apostrophe


def test_a_space_between_chinese_phrases_ends_the_clause_of_a_negation():
    assert assess("我不是开玩笑 怎么结束我已经想好了").level == "high"
    assert assess("我不想活了 等高考完就走").level == "high"


def test_past_thoughts_are_history_unless_they_are_back():
    assert assess("初中的时候想过自杀，现在好多了").level == "moderate"
    assert assess("i was suicidal back in high school but im doing better").level == "moderate"
    assert assess("以前想过自杀 最近又开始想了").level == "high"


def test_every_context_a_term_names_is_defined_and_looked_for_somewhere():
    raw = json.loads((Path(__file__).parents[2] / "hotline" / "data" / "risk_lexicon.json")
                     .read_text(encoding="utf-8"))
    contexts = raw["contexts"]
    assert all(context["within"] in ("message", "sentence") and context["patterns"]
               for context in contexts.values())
    named = {name for term in raw["terms"] for name in term.get("unless", ())}
    assert named == set(contexts)
    for pattern in (p for context in contexts.values() for p in context["patterns"]):
        re.compile(pattern)


@given(current=st.sampled_from(LEVELS),
       text=st.text(alphabet="我在天台上晒被子想自杀不没有是《》书课 ,.。roftkilmysd", max_size=40))
def test_setting_aside_never_lowers_a_contacts_risk(current, text):
    assessment = assess(text)
    assert LEVELS.index(raised(current, assessment)) >= LEVELS.index(current)
    assert all(match.level in LEVELS[1:] for match, _ in assessment.set_aside)
