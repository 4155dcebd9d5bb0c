"""The learned second opinion beside the lexicon: it raises risk told in ordinary words, never
lowers anything, says why, comes from the corpus by one reproducible command, and works
through the real SMS and chat paths."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.models import RiskLevel
from hotline import triage, triage_model
from hotline.models import Contact, ContactMessage, Priority

ROOT = Path(__file__).resolve().parents[2]

# risk told in words no keyword list holds (the issue's own examples among them)
MUST_RAISE = [
    "煤气已经打开了，门窗都关好了",
    "我决定了，放学后去火车站那边",
    "室友把刀藏在枕头下面，说活不下去了",
    "I've decided how I'm going to do it",
    "我想死，已经想好用什么方法了",
    "药攒了一个多月了 今晚家里没人",
]
# idioms, negations, lessons and everyday look-alikes
MUST_NOT_RAISE = [
    "笑死我了，今天班会太搞笑了",
    "这道物理题简直要了我的命",
    "我没有想自杀，只是最近很累想找人聊聊",
    "屈原为什么要投江？语文作业要写",
    "绳子买好了，周末去露营",
    "作业已经写好了",
    "药已经吃了，感冒好多了",
    "我决定了，下学期转去学计算机",
    "好的 我知道了 谢谢",
    "this homework is killing me lol",
]


@pytest.mark.parametrize("text", MUST_RAISE)
def test_risk_in_ordinary_words_is_raised(text):
    assert triage.judge(text).raises_priority, triage.judge(text).explain()


@pytest.mark.parametrize("text", MUST_NOT_RAISE)
def test_idioms_negations_lessons_and_look_alikes_are_not(text):
    assert not triage.judge(text).raises_priority, triage.judge(text).explain()


@pytest.mark.parametrize("text", ["我现在就站在宿舍楼顶上", "今天天气不错", "好的 谢谢"])
def test_the_model_never_lowers_the_lexicons_level(text):
    judged = triage.judge(text)
    assert triage.LEVELS.index(judged.level) >= triage.LEVELS.index(judged.lexicon.level)
    assert judged.level == max(judged.lexicon.level, judged.model.level,
                               key=triage.LEVELS.index)


def test_the_explanation_gives_the_models_probability_and_the_nearest_examples():
    explained = triage.judge("煤气已经打开了，门窗都关好了").explain()
    model = explained["model"]
    assert model["level"] in ("high", "imminent") and model["probability"] > 0.5
    assert 1 <= len(model["similar"]) <= 3
    assert all(example["level"] in triage.LEVELS and example["text"]
               for example in model["similar"])
    assert explained["matches"] == triage.assess("煤气已经打开了，门窗都关好了").explain()


def test_scoring_in_plain_python_matches_scikit_learn():
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    raw = json.loads((ROOT / "hotline" / triage_model.MODEL_FILE).read_text("utf-8"))
    model = triage_model.model()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=tuple(raw["char"]["ngram_range"]),
                                 sublinear_tf=True, preprocessor=triage_model.normalise,
                                 vocabulary=raw["char"]["vocabulary"])
    vectorizer.idf_ = __import__("numpy").asarray(raw["char"]["idf"])
    for text in MUST_RAISE + MUST_NOT_RAISE:
        ours = model.char.vector(text)
        theirs = vectorizer.transform([text])
        assert {int(i): round(v, 9) for i, v in zip(theirs.indices, theirs.data)} == {
            i: round(v, 9) for i, v in ours.items()}


def _trainer():
    spec = importlib.util.spec_from_file_location("train", ROOT / "bench/triage/train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["triage_train"] = module
    spec.loader.exec_module(module)
    return module


def test_retraining_from_the_corpus_gives_the_committed_model():
    pytest.importorskip("sklearn")
    train = _trainer()
    committed = json.loads((ROOT / "hotline" / triage_model.MODEL_FILE).read_text("utf-8"))
    assert train.same(train.train(), committed) == []


def test_no_message_nearly_duplicates_one_of_another_set():
    train = _trainer()
    training, validation, blind = train.corpus()
    assert len(training) >= 2000 and len(validation) >= 300
    assert train.near_duplicates({"training": training, "validation": validation,
                                  **blind}) == []


# -- through the real paths ----------------------------------------------------------------

ORDINARY_WORDS = "煤气已经打开了，门窗都关好了"


def test_the_lexicon_alone_would_not_raise_the_message_these_tests_send():
    assert triage.assess(ORDINARY_WORDS).level == "none"


@pytest.fixture
def twilio(app, monkeypatch, world):
    from tests.hotline.test_twilio_webhooks import ACCOUNT, TOKEN
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", ACCOUNT)


def raised_by_the_model(ctx, contact_id: int) -> bool:
    with ctx() as db:
        contact = db.get(Contact, contact_id)
        message = db.scalar(select(ContactMessage).where(
            ContactMessage.contact_id == contact_id, ContactMessage.inbound))
        return (contact.risk_level in (RiskLevel.HIGH, RiskLevel.IMMINENT)
                and contact.priority >= Priority.HIGH
                and message.triage["model"]["level"] in ("high", "imminent")
                and message.triage["matches"] == [])


def test_a_text_in_ordinary_words_moves_up_the_queue_through_the_sms_webhook(
        app, client, ctx, twilio):
    from tests.hotline.test_twilio_webhooks import signed, sms_params
    response = signed(app, client, "/twilio/sms/incoming", sms_params("SM-model",
                                                                      ORDINARY_WORDS))
    assert response.status_code == 200
    with ctx() as db:
        contact_id = db.scalar(select(ContactMessage.contact_id).where(
            ContactMessage.twilio_sid == "SM-model"))
    assert raised_by_the_model(ctx, contact_id)


def test_a_chat_in_ordinary_words_moves_up_the_queue(app, ctx, world):
    from tests.hotline.test_web_chat import conversation_of, start_chat
    student = app.test_client()
    start_chat(student, ORDINARY_WORDS)
    assert raised_by_the_model(ctx, conversation_of(student))


def test_the_contact_page_and_api_say_why_the_model_raised_it(app, client, ctx, twilio, api):
    from tests.conftest import login
    from tests.hotline.test_twilio_webhooks import signed, sms_params
    signed(app, client, "/twilio/sms/incoming", sms_params("SM-why", ORDINARY_WORDS))
    with ctx() as db:
        contact_id = db.scalar(select(ContactMessage.contact_id).where(
            ContactMessage.twilio_sid == "SM-why"))
    [why] = api("supervisor").get(f"/api/contacts/{contact_id}").json["triage"]
    assert why["matches"] == [] and why["model"]["level"] in ("high", "imminent")
    assert why["model"]["similar"] and why["model"]["probability"] > 0.5
    browser = app.test_client()
    login(browser, "t_supervisor")
    page = browser.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "模型的第二意见" in page and "判为高风险或紧急的概率：" in page
    assert why["model"]["similar"][0]["text"] in page
