"""Alerts on the consoles: an anonymous high-risk chat left unanswered reaches the
supervisors, their console stays up, links to the chat, and the alert is acknowledged from
the console itself (through the same service as the API, audited)."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from casework.models import Alert
from crisisline.audit.models import AuditEntry
from hotline.models import Contact
from hotline.tasks import keep_the_queue_moving
from tests.conftest import login
from tests.hotline.test_web_chat import conversation_of, start_chat
from tests.world import PASSWORD

LAST_WORDS = "遗书已经写好了，今晚就结束吧"


def unanswered_risky_chat(app, ctx) -> int:
    """A student writes from the web chat; nobody answers for six minutes; the queue's
    periodic tick runs as the scheduler runs it."""
    student = app.test_client()
    start_chat(student, LAST_WORDS)
    contact_id = conversation_of(student)
    with ctx() as db:
        contact = db.get(Contact, contact_id)
        contact.queued_at -= timedelta(minutes=6)
        db.commit()
    assert keep_the_queue_moving.delay().get()["alerted"] == 1
    return contact_id


def test_an_unanswered_high_risk_chat_leaves_the_supervisor_console_up(app, ctx, client,
                                                                      world):
    contact_id = unanswered_risky_chat(app, ctx)
    login(client, "t_supervisor", PASSWORD)
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200
    console = client.get("/console/supervisor")
    assert console.status_code == 200
    page = console.get_data(as_text=True)
    alerts = page.split('id="alerts"')[1].split("</section>")[0]
    assert f'href="/contacts/{contact_id}"' in alerts
    assert "高风险" in alerts  # said what it is about, in Chinese


def test_the_supervisor_acknowledges_the_alert_from_the_console(app, ctx, client, world):
    contact_id = unanswered_risky_chat(app, ctx)
    login(client, "t_supervisor", PASSWORD)
    page = client.get("/console/supervisor").get_data(as_text=True)
    action = re.search(r'<form method="post" action="(/alerts/\d+/acknowledge)"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(action, data={"csrf_token": token},
                           headers={"Referer": "http://localhost/console/supervisor"},
                           follow_redirects=True)
    assert response.status_code == 200
    after = response.get_data(as_text=True)
    assert "已知悉该警报" in after  # the flash, in Chinese
    assert f'href="/contacts/{contact_id}"' not in after.split('id="alerts"')[1].split(
        "</div>")[0]
    with ctx() as db:
        alert = db.scalars(select(Alert).where(Alert.contact_id == contact_id)).one()
        assert alert.acknowledged_at is not None
        [entry] = db.scalars(select(AuditEntry).where(
            AuditEntry.action == "alert.acknowledge", AuditEntry.object_id == str(alert.id)))
    assert (entry.actor_name, entry.outcome) == ("t_supervisor", "success")


def test_the_alerts_api_names_the_contact_an_alert_is_about(app, ctx, api):
    contact_id = unanswered_risky_chat(app, ctx)
    [alert] = api("supervisor").get("/api/alerts").json
    assert alert["contact_id"] == contact_id and alert["case_id"] is None
    assert alert["kind"] == "unanswered_high_risk_text"
