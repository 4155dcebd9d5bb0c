"""Learning from the people who answer: a volunteer marks a message's triage as wrong, a
supervisor accepts it as a de-identified labelled example (or rejects it), and the accepted
ones are exported for the next training. Nothing retrains by itself."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from hotline import feedback
from hotline.models import Channel, Contact, ContactMessage, ContactStatus, TriageFeedback
from hotline.triage import judge
from tests.conftest import login

BODY = "明天下午三点 学校后门那个天台 13800001234 是我室友的号码"


@pytest.fixture
def message(ctx, world) -> int:
    """An inbound text on the volunteer's active contact, as triage judged it."""
    with ctx() as db:
        contact = db.get(Contact, world.records["contact"].id)
        contact.status, contact.channel = ContactStatus.ACTIVE, Channel.SMS
        message = ContactMessage(contact=contact, inbound=True, body=BODY,
                                 triage=judge(BODY).explain())
        db.add(message)
        db.commit()
        return message.id


def mark(api, message_id: int, level: str = "imminent", name: str = "volunteer"):
    return api(name).post(f"/api/contact-messages/{message_id}/triage-feedback",
                          {"level": level, "note": "时间地点都定了"})


def test_a_volunteer_marks_a_messages_triage_as_wrong_once(api, message):
    given = judge(BODY).level
    same = mark(api, message, level=given)
    assert same.status_code == 422 and "level" in same.json["fields"]
    marked = mark(api, message, level="none" if given != "none" else "imminent")
    assert marked.status_code == 201
    assert marked.json["status"] == "pending" and marked.json["triage_level"] == given
    assert mark(api, message).status_code == 409
    assert mark(api, message, name="other_volunteer").status_code == 404  # not their contact


def test_a_supervisor_accepts_it_only_without_numbers_and_it_is_exported(
        api, message, ctx, app):
    marked = mark(api, message).json
    queue = api("supervisor").get("/api/triage-feedback").json
    assert [item["id"] for item in queue] == [marked["id"]]
    assert api("other_supervisor").get("/api/triage-feedback").json == []
    leaking = api("supervisor").post(f"/api/triage-feedback/{marked['id']}/review", {
        "accept": True, "example_text": BODY})
    assert leaking.status_code == 422 and "数字" in leaking.json["fields"]["example_text"]
    text = "明天下午三点 学校后门那个天台"
    unconfirmed = api("supervisor").post(f"/api/triage-feedback/{marked['id']}/review", {
        "accept": True, "example_text": text})
    assert unconfirmed.status_code == 422 and "names_removed" in unconfirmed.json["fields"]
    short = api("supervisor").post(f"/api/triage-feedback/{marked['id']}/review", {
        "accept": True, "example_text": "江滨小区3栋 17点40", "names_removed": True})
    assert short.status_code == 422  # any number at all, a building's or a time's
    accepted = api("supervisor").post(f"/api/triage-feedback/{marked['id']}/review", {
        "accept": True, "example_text": text, "names_removed": True})
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert api("supervisor").get("/api/triage-feedback").json == []
    with app.app_context():
        assert feedback.accepted_examples() == [
            {"text": text, "level": "imminent", "source": "feedback",
             "feedback_id": marked["id"]}]
    again = api("supervisor").post(f"/api/triage-feedback/{marked['id']}/review",
                                   {"accept": False})
    assert again.status_code == 409


def test_the_supervisors_page_offers_the_message_with_numbers_masked(api, message, app):
    mark(api, message)
    browser = app.test_client()
    login(browser, "t_supervisor")
    page = browser.get("/triage/feedback").get_data(as_text=True)
    assert "学校后门那个天台 〔数字〕" in page and "采纳为标注样例" in page
    assert "13800001234" not in page  # the quote is masked too
    assert feedback.de_identified("加我微信 @xiaoming 或 a.b@qq.com 看 https://x.cn/1") == (
        "加我微信 〔账号〕 或 〔邮箱〕 看 〔链接〕")


def test_a_volunteer_marks_it_from_the_contact_page(app, message, ctx, world):
    from tests.casework.test_case_pages import csrf
    browser = app.test_client()
    login(browser, "t_volunteer")
    contact_id = world.records["contact"].id
    page = browser.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "这条消息的分诊有误？" in page
    done = browser.post(f"/contact-messages/{message}/triage-feedback", data={
        "csrf_token": csrf(page), "contact_id": contact_id, "level": "imminent",
        "note": "已经定了时间地点"})
    assert done.status_code == 302
    with ctx() as db:
        [given] = db.scalars(select(TriageFeedback)).all()
        assert (given.judged_level.value, given.note) == ("imminent", "已经定了时间地点")
    again = browser.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "你已标记这条消息的分诊有误" in again and "这条消息的分诊有误？" not in again


def test_the_command_line_exports_the_accepted_examples(crisisline, tmp_path):
    crisisline("init")
    out = tmp_path / "examples.jsonl"
    done = crisisline("triage", "export", str(out))
    assert "0 labelled examples written" in done.stdout
    assert out.read_text(encoding="utf-8") == ""
    assert json  # the file is JSON Lines: one object per accepted example
