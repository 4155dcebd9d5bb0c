"""Callers who hung up unanswered are called back: the list, and the attempts."""
from __future__ import annotations

import re

from sqlalchemy import select

from crisisline.audit.models import AuditEntry
from hotline.models import CallbackAttempt, Contact
from tests.conftest import login
from tests.hotline.test_twilio_webhooks import TOKEN, call_params, signed
from tests.world import PASSWORD

CALLER = "+8613900005555"


def test_an_abandoned_caller_stays_on_the_list_until_reached(app, client, ctx, world,
                                                              monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    twilio = app.test_client()
    signed(app, twilio, "/twilio/voice/incoming", call_params("CA-cb", CALLER))
    signed(app, twilio, "/twilio/voice/menu", call_params("CA-cb", CALLER))
    signed(app, twilio, "/twilio/voice/status", call_params("CA-cb", CALLER,
                                                           CallStatus="completed"))
    login(client, "t_volunteer", PASSWORD)
    page = client.get("/console/volunteer").get_data(as_text=True)
    assert CALLER in page
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    with ctx() as db:
        contact_id = db.scalar(select(Contact.id).where(Contact.twilio_sid == "CA-cb"))

    client.post(f"/callbacks/{contact_id}", data={"csrf_token": token, "note": "无人接听"})
    assert CALLER in client.get("/console/volunteer").get_data(as_text=True)
    client.post(f"/callbacks/{contact_id}", data={"csrf_token": token, "reached": "on",
                                                  "note": "已回拨，情绪稳定"})
    assert CALLER not in client.get("/console/volunteer").get_data(as_text=True)
    with ctx() as db:
        attempts = db.scalars(select(CallbackAttempt.reached).where(
            CallbackAttempt.contact_id == contact_id).order_by(CallbackAttempt.id)).all()
        audited = db.scalars(select(AuditEntry).where(
            AuditEntry.action == "callback_attempt.create")).all()
    assert attempts == [False, True] and len(audited) == 2


def test_a_callback_cannot_be_recorded_for_a_call_that_was_not_abandoned(ctx, world):
    import pytest

    from crisisline.errors import NotFound
    from hotline import services
    from hotline.models import Channel, ContactStatus
    with ctx() as db:
        answered = Contact(centre_id=world.orgs["A"].id, channel=Channel.VOICE,
                           status=ContactStatus.ENDED, caller_number=CALLER)
        db.add(answered)
        db.flush()
        with pytest.raises(NotFound):
            services.record_callback(world.users["volunteer"], answered.id, reached=True)
        assert answered not in services.callback_list(world.users["volunteer"])
