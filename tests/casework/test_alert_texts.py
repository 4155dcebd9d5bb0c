"""Missed deadlines are texted through Twilio's REST API, after commit and never twice."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from casework import alerts, deadlines, services
from casework.models import Alert, Case
from casework.tasks import text_alerts
from crisisline.database import utcnow
from crisisline.twilio_rest import TEXT_CHUNK, recorded_requests
from tests.world import build_world, close_open_case

SID, TOKEN, SENDER = "AC" + "1" * 32, "2" * 32, "+8610000000000"


@pytest.fixture
def twilio(app, monkeypatch, tmp_path):
    for key, value in {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
                       "TWILIO_FROM_NUMBER": SENDER, "TWILIO_TRANSPORT": "record"}.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))


@pytest.fixture
def overdue_case(ctx):
    """A dispatched case whose responder-on-site deadline is about to be missed."""
    with ctx() as db:
        world = build_world()
        world.users["owner_counselor"].phone = "+8613800000001"
        world.users["supervisor"].phone = "+8613800000002"
        counselor = world.users["owner_counselor"]
        case = services.open_case(counselor, source="hotline_contact", risk_level="high",
                                  student_id=close_open_case(world))
        db.flush()
        services.fire_event(counselor, case.id, "dispatch", {
            "risk_level": "high", "responder": "值班员", "emergency_services": []}, case.version)
        db.commit()
        return case.id


def miss_deadlines(ctx, case_id: int) -> list[Alert]:
    with ctx() as db:
        deadlines.fire_due(now=utcnow() + timedelta(minutes=31))
        db.commit()
    with ctx() as db:
        return db.scalars(select(Alert).where(Alert.case_id == case_id).order_by(Alert.id)).all()


def test_each_alert_is_texted_once_after_the_commit(app, ctx, twilio, overdue_case):
    alerts = miss_deadlines(ctx, overdue_case)
    with app.app_context():
        sent = [r for r in recorded_requests() if f"#{overdue_case}" in r["data"]["Body"]]
    assert sorted(request["data"]["To"] for request in sent) == ["+8613800000001",
                                                                 "+8613800000002"]
    assert all(request["url"].endswith(f"/Accounts/{SID}/Messages.json") for request in sent)
    assert all(request["data"]["From"] == SENDER for request in sent)
    assert all(f"#{overdue_case}" in request["data"]["Body"] for request in sent)
    assert {(alert.sms_status, alert.sms_sid) for alert in alerts} == {
        ("sent", request["sid"]) for request in sent}


def test_the_text_names_no_student(app, ctx, twilio, overdue_case):
    miss_deadlines(ctx, overdue_case)
    with app.app_context():
        bodies = " ".join(request["data"]["Body"] for request in recorded_requests()
                          if f"#{overdue_case}" in request["data"]["Body"])
    assert "学生甲" not in bodies and "超时" in bodies


def test_a_repeated_task_does_not_text_again(app, ctx, twilio, overdue_case):
    alerts = miss_deadlines(ctx, overdue_case)
    ids = [alert.id for alert in alerts]
    assert text_alerts.delay(ids).get() == ["skipped"] * len(ids)
    with app.app_context():
        assert len([r for r in recorded_requests()
                    if f"#{overdue_case}" in r["data"]["Body"]]) == len(alerts)


def test_an_alert_caught_mid_send_by_a_crash_is_never_sent_again(app, ctx, twilio,
                                                                 overdue_case, monkeypatch):
    monkeypatch.setattr("crisisline.twilio_rest.rest_client", lambda: None)  # held back
    alerts = miss_deadlines(ctx, overdue_case)
    with ctx() as db:
        crashed = db.get(Alert, alerts[0].id)
        crashed.sms_status = "sending"  # as a worker killed during the Twilio call leaves it
        db.commit()
    monkeypatch.undo()
    assert text_alerts.delay([alerts[0].id]).get() == ["skipped"]


def test_nothing_is_texted_when_twilio_is_not_configured(app, ctx, overdue_case):
    alerts = miss_deadlines(ctx, overdue_case)
    assert alerts and all(alert.sms_status is None for alert in alerts)


@pytest.fixture(autouse=True)
def step_kinds(monkeypatch):
    """The kinds ``many_alerts`` raises (each texted with words of its own), declared for
    these tests only."""
    for n in range(3 * TEXT_CHUNK):
        monkeypatch.setitem(alerts.KINDS, f"test_step_{n}",
                            alerts.AlertKind(alerts.CASE, f"step {n}",
                                             f"step {n} of case %(case)s"))


def many_alerts(ctx, case_id: int, count: int) -> list[int]:
    """``count`` alerts for the case's owner, each with a text of its own."""
    with ctx() as db:
        owner = db.get(Case, case_id).owner_id
        alerts = [Alert(recipient_id=owner, case_id=case_id, kind=f"test_step_{n}")
                  for n in range(count)]
        db.add_all(alerts)
        db.commit()
        return [alert.id for alert in alerts]


def fake_twilio(monkeypatch, during_send=None):
    """Twilio's far side, answering each send; ``during_send(n)`` runs inside the n-th."""
    sent: list[str] = []

    def create(to, from_, body):
        sent.append(body)
        if during_send is not None:
            during_send(len(sent))
        return SimpleNamespace(sid=f"SM{len(sent)}")
    monkeypatch.setattr("crisisline.twilio_rest.rest_client",
                        lambda: SimpleNamespace(messages=SimpleNamespace(create=create)))
    return sent


def test_a_crash_in_the_middle_of_a_batch_strands_at_most_one_chunk(app, ctx, twilio,
                                                                    overdue_case, monkeypatch):
    class WorkerKilled(BaseException):
        pass

    def crash(n):
        if n == TEXT_CHUNK + 5:
            raise WorkerKilled  # the worker dies during this Twilio call
    fake_twilio(monkeypatch, crash)
    ids = many_alerts(ctx, overdue_case, 3 * TEXT_CHUNK)
    with pytest.raises(WorkerKilled):
        text_alerts.delay(ids).get()
    with ctx() as db:
        status = dict(db.execute(select(Alert.id, Alert.sms_status).where(Alert.id.in_(ids)))
                      .tuples().all())
    assert [status[i] for i in ids[:TEXT_CHUNK]] == ["sent"] * TEXT_CHUNK
    assert [status[i] for i in ids[TEXT_CHUNK:2 * TEXT_CHUNK]] == ["sending"] * TEXT_CHUNK
    assert [status[i] for i in ids[2 * TEXT_CHUNK:]] == [None] * TEXT_CHUNK  # the sweep's


def test_a_second_task_for_the_same_alerts_mid_send_texts_none_twice(app, ctx, twilio,
                                                                     overdue_case, monkeypatch):
    ids = many_alerts(ctx, overdue_case, 3 * TEXT_CHUNK)

    def sweep_arrives(n):
        if n == 1:  # the poll's sweep sent the same alerts again while these go out
            text_alerts(ids)  # that task, run by another worker meanwhile
    sent = fake_twilio(monkeypatch, sweep_arrives)
    text_alerts.delay(ids).get()
    assert len(sent) == len(set(sent)) == len(ids)
    with ctx() as db:
        assert set(db.scalars(select(Alert.sms_status).where(Alert.id.in_(ids)))) == {"sent"}


def test_a_network_error_on_one_text_fails_that_one_and_the_others_still_go(
        app, ctx, twilio, overdue_case, monkeypatch):
    import requests

    def network_down_once(n):
        if n == 3:
            raise requests.ConnectionError("connection reset")  # not wrapped by twilio
    sent = fake_twilio(monkeypatch, network_down_once)
    ids = many_alerts(ctx, overdue_case, TEXT_CHUNK)
    outcomes = text_alerts.delay(ids).get()
    assert outcomes == ["sent"] * 2 + ["failed"] + ["sent"] * (TEXT_CHUNK - 3)
    assert len(sent) == TEXT_CHUNK
