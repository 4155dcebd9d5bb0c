"""A volunteer goes on duty, is offered the next contact on their console, and answers it."""
from __future__ import annotations

import re

from sqlalchemy import select

from hotline.models import Contact, ContactStatus, Presence
from tests.conftest import login
from tests.hotline.test_twilio_webhooks import TOKEN, signed, sms_params
from tests.world import PASSWORD


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def test_a_text_is_offered_to_the_volunteer_on_duty_who_answers_it(app, client, ctx, world,
                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    login(client, "t_volunteer", PASSWORD)
    console = client.get("/console/volunteer").get_data(as_text=True)
    assert "上线值班" in console  # offline: "go on duty"
    client.post("/console/presence/sign_in", data={"csrf_token": csrf(console)})

    texter = app.test_client()  # Twilio, not the volunteer's browser
    signed(app, texter, "/twilio/sms/incoming", sms_params("SM-help", "我在网上买了炭"))

    console = client.get("/console/volunteer").get_data(as_text=True)
    assert "有一位求助者等待您接听" in console
    offer_id = re.search(r"/console/offers/(\d+)/accept", console).group(1)
    answered = client.post(f"/console/offers/{offer_id}/accept",
                           data={"csrf_token": csrf(console)})
    assert answered.status_code == 302 and "/contacts/" in answered.headers["Location"]
    with ctx() as db:
        contact = db.scalar(select(Contact).where(Contact.caller_number.is_not(None),
                                                  Contact.status == ContactStatus.ACTIVE))
        assert contact.handled_by_id == world.users["volunteer"].id
        assert contact.risk_level.value == "high"
        assert db.get(Presence, world.users["volunteer"].id).state == "busy"
    assert client.get(answered.headers["Location"]).status_code == 200
