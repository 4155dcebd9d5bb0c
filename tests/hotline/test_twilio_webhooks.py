"""Twilio's webhooks, signed as Twilio signs them, with Twilio's documented parameters."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from casework.models import RiskLevel
from crisisline.audit.models import AuditEntry
from hotline import intake
from hotline.models import Contact, ContactMessage, ContactStatus, Priority
from tests.world import TEST_HOTLINE

TOKEN = "f" * 32
ACCOUNT = "AC" + "a" * 32
HOTLINE, CALLER = TEST_HOTLINE, "+8613900001111"


@pytest.fixture(autouse=True)
def twilio_configured(app, monkeypatch, world):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", ACCOUNT)


def call_params(sid: str, caller: str = CALLER, **extra) -> dict:
    return {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "To": HOTLINE,
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
            "Caller": caller, "Called": HOTLINE, **extra}


def sms_params(sid: str, body: str, sender: str = CALLER) -> dict:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": sender,
            "To": HOTLINE, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"}


def signed(app, client, path: str, params: dict, *, token: str = TOKEN, sign_params=None):
    url = app.config["PUBLIC_URL"] + path
    signature = RequestValidator(token).compute_signature(url, sign_params or params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def contacts(ctx) -> list[Contact]:
    with ctx() as db:
        return db.scalars(select(Contact).where(Contact.twilio_sid.is_not(None))
                          .order_by(Contact.id)).all()


def call_in(app, client, sid: str, digits: str | None = None, caller: str = CALLER):
    signed(app, client, "/twilio/voice/incoming", call_params(sid, caller))
    params = call_params(sid, caller, **({"Digits": digits} if digits else {}))
    return signed(app, client, "/twilio/voice/menu", params)


def test_a_call_hears_the_chinese_greeting_with_the_danger_option(app, client, ctx):
    response = signed(app, client, "/twilio/voice/incoming", call_params("CA1"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert "<Gather" in body and "请按1" in body and "保密" in body
    [contact] = contacts(ctx)
    assert (contact.status, contact.caller_number) == (ContactStatus.IVR, CALLER)


@pytest.mark.parametrize("tamper", ["forged", "altered", "unsigned"])
def test_a_request_twilio_did_not_sign_is_refused_and_changes_nothing(app, client, ctx, tamper):
    params = call_params("CA-bad")
    if tamper == "forged":
        response = signed(app, client, "/twilio/voice/incoming", params, token="0" * 32)
    elif tamper == "altered":
        response = signed(app, client, "/twilio/voice/incoming", {**params, "From": "+1"},
                          sign_params=params)
    else:
        response = client.post("/twilio/voice/incoming", data=params)
    assert response.status_code == 403
    assert contacts(ctx) == []


def test_pressing_1_puts_the_caller_first_in_the_queue(app, client, ctx):
    call_in(app, client, "CA-early")
    response = call_in(app, client, "CA-danger", digits="1", caller="+8613900002222")
    assert "<Enqueue" in response.get_data(as_text=True)
    with ctx():
        queue = intake.waiting(contacts(ctx)[0].centre_id)
        assert [c.twilio_sid for c in queue] == ["CA-danger", "CA-early"]
        assert queue[0].priority == Priority.IMMINENT
        assert queue[0].risk_level == RiskLevel.IMMINENT


def test_callers_of_equal_priority_are_answered_in_the_order_they_waited(app, client, ctx):
    for n in range(3):
        call_in(app, client, f"CA-{n}", caller=f"+861390000300{n}")
    with ctx():
        assert [c.twilio_sid for c in intake.waiting(contacts(ctx)[0].centre_id)] == \
            ["CA-0", "CA-1", "CA-2"]
    wait = signed(app, client, "/twilio/voice/wait", call_params("CA-2", "+8613900003002"))
    assert "前面还有2位" in wait.get_data(as_text=True)


def test_a_repeat_caller_whose_last_contact_was_high_risk_is_raised(app, client, ctx):
    call_in(app, client, "CA-first")
    with ctx() as db:
        first = db.scalar(select(Contact).where(Contact.twilio_sid == "CA-first"))
        first.risk_level, first.status = RiskLevel.HIGH, ContactStatus.ENDED
        db.commit()
    call_in(app, client, "CA-again")
    with ctx() as db:
        again = db.scalar(select(Contact).where(Contact.twilio_sid == "CA-again"))
        assert again.priority == Priority.HIGH


def test_each_webhook_replayed_five_times_has_one_effect(app, client, ctx):
    for _ in range(5):
        call_in(app, client, "CA-retry")
        signed(app, client, "/twilio/voice/status",
               call_params("CA-retry", CallStatus="completed"))
        signed(app, client, "/twilio/sms/incoming", sms_params("SM-retry", "你好"))
    with ctx() as db:
        assert db.scalar(select(func.count()).where(Contact.twilio_sid == "CA-retry")) == 1
        assert db.scalar(select(func.count()).where(ContactMessage.twilio_sid == "SM-retry")) == 1
        actions = db.scalars(select(AuditEntry.action)).all()
    assert actions.count("contact.call_received") == 1
    assert actions.count("contact.queued") == 1
    assert actions.count("contact.call_ended") == 1
    assert actions.count("contact.text_received") == 1


def test_a_caller_who_hangs_up_while_waiting_lands_on_the_callback_list(app, client, ctx):
    call_in(app, client, "CA-gone")
    response = signed(app, client, "/twilio/voice/status",
                      call_params("CA-gone", CallStatus="completed"))
    assert response.status_code == 204
    [contact] = contacts(ctx)
    assert contact.status == ContactStatus.ABANDONED and contact.ended_at is not None


def test_texts_from_one_number_are_one_conversation_acknowledged_once(app, client, ctx):
    first = signed(app, client, "/twilio/sms/incoming", sms_params("SM1", "在吗"))
    second = signed(app, client, "/twilio/sms/incoming", sms_params("SM2", "想找人聊聊"))
    assert "<Message>" in first.get_data(as_text=True)
    assert "<Message>" not in second.get_data(as_text=True)
    with ctx() as db:
        [conversation] = db.scalars(select(Contact).where(Contact.caller_number == CALLER)).all()
        assert [m.body for m in conversation.messages] == ["在吗", "想找人聊聊"]
        assert conversation.status == ContactStatus.QUEUED


def test_high_risk_words_in_a_text_raise_the_conversation_and_never_lower_it(app, client, ctx):
    signed(app, client, "/twilio/sms/incoming", sms_params("SM-a", "遗书已经写好了"))
    signed(app, client, "/twilio/sms/incoming", sms_params("SM-b", "笑死，没事了"))
    with ctx() as db:
        conversation = db.scalar(select(Contact).where(Contact.caller_number == CALLER))
        assert (conversation.risk_level, conversation.priority) == (RiskLevel.HIGH,
                                                                    Priority.HIGH)


def test_without_a_configured_auth_token_every_webhook_is_refused(app, client, ctx,
                                                                  monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", None)
    response = signed(app, client, "/twilio/voice/incoming", call_params("CA-x"))
    assert response.status_code == 403 and contacts(ctx) == []
