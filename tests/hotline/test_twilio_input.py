"""What Twilio's webhooks accept: our account only, and parameters within what Twilio sends.

A 4xx makes Twilio drop what it was delivering, so a text Twilio could really send is kept
(cut to 1,600 characters, control characters taken out); what only a forger can send is
refused and changes nothing. Requests are signed as Twilio signs them.
"""
from __future__ import annotations

import pytest

from tests.hotline.test_twilio_webhooks import (ACCOUNT, CALLER, call_params, contacts, signed,
                                                sms_params, twilio_configured)  # noqa: F401
from hotline.models import ContactMessage
from sqlalchemy import select


def texts(ctx) -> list[ContactMessage]:
    with ctx() as db:
        return db.scalars(select(ContactMessage).order_by(ContactMessage.id)).all()


@pytest.mark.parametrize("account", ["AC" + "b" * 32, "", None])
def test_a_webhook_signed_for_another_account_is_refused(app, client, ctx, account):
    for path, params in (("/twilio/voice/incoming", call_params("CA-foreign")),
                         ("/twilio/sms/incoming", sms_params("SM-foreign", "你好"))):
        params = {**params, "AccountSid": account}
        if account is None:
            del params["AccountSid"]
        assert signed(app, client, path, params).status_code == 403
    assert contacts(ctx) == [] and texts(ctx) == []


def test_a_text_longer_than_twilio_sends_is_cut_to_1600_characters_and_kept(app, client, ctx):
    body = "我" * 1600 + "多出来的"
    response = signed(app, client, "/twilio/sms/incoming", sms_params("SM-long", body))
    assert response.status_code == 200
    [message] = texts(ctx)
    assert message.body == "我" * 1600


def test_control_characters_are_taken_out_of_a_text_and_it_is_kept(app, client, ctx):
    response = signed(app, client, "/twilio/sms/incoming",
                      sms_params("SM-ctl", "救\x00命\x1b\n请回复"))
    assert response.status_code == 200
    assert [m.body for m in texts(ctx)] == ["救命\n请回复"]


def test_a_body_of_5_megabytes_is_refused_unread(app, client, ctx):
    response = signed(app, client, "/twilio/sms/incoming",
                      sms_params("SM-huge", "x" * 5 * 1024 * 1024))
    assert response.status_code == 413
    assert texts(ctx) == []


@pytest.mark.parametrize("path, params, field", [
    ("/twilio/sms/incoming", sms_params("SM" + "1" * 500, "你好"), "MessageSid"),
    ("/twilio/sms/incoming", sms_params("CA-not-a-message", "你好"), "MessageSid"),
    ("/twilio/sms/incoming", sms_params("SM-x", "你好", sender="+86" + "1" * 40), "From"),
    ("/twilio/sms/incoming", sms_params("SM-x", "你好", sender="<script>"), "From"),
    ("/twilio/voice/incoming", call_params("CA" + "f" * 500), "CallSid"),
    ("/twilio/voice/incoming", call_params("CA-x", To="+86" + "0" * 40), "To"),
    ("/twilio/voice/incoming", call_params("CA-x", FromCity="北" * 2000), "FromCity"),
    ("/twilio/voice/incoming", call_params("CA-x", FromCity="a\x00b"), "FromCity"),
    ("/twilio/voice/menu", call_params("CA-x", Digits="1" * 500), "Digits"),
    ("/twilio/voice/status", call_params("CA-x", CallStatus="exploded"), "CallStatus"),
    ("/twilio/sms/incoming", {k: v for k, v in sms_params("SM-x", "你好").items()
                              if k not in ("MessageSid", "SmsSid")}, "MessageSid"),
])
def test_a_parameter_twilio_never_sends_is_refused_and_changes_nothing(app, client, ctx, path,
                                                                       params, field):
    response = signed(app, client, path, params)
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)
    assert contacts(ctx) == [] and texts(ctx) == []


@pytest.mark.parametrize("caller", ["+266696687", "anonymous", "+8613900001111"])
def test_a_withheld_or_ordinary_number_still_gets_through(app, client, ctx, caller):
    response = signed(app, client, "/twilio/voice/incoming", call_params("CA-w", caller))
    assert response.status_code == 200
    assert [c.caller_number for c in contacts(ctx)] == [caller]


def test_a_documented_sid_and_a_call_status_twilio_sends_are_accepted(app, client, ctx):
    sid = "CA" + "0123456789abcdef" * 2
    assert signed(app, client, "/twilio/voice/incoming", call_params(sid)).status_code == 200
    response = signed(app, client, "/twilio/voice/status",
                      call_params(sid, CallStatus="in-progress", AccountSid=ACCOUNT))
    assert response.status_code == 204
    assert contacts(ctx)[0].caller_number == CALLER
