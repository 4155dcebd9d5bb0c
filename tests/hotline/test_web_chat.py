"""The anonymous student web chat: the page, the first message, and the conversation over
Socket.IO's /chat namespace, each student in a room of their own.

The sockets are real Socket.IO clients of the app served on a loopback port (as the console's
tests do), so they work the same with Redis as the message queue; each carries the session
cookie of its own browser (a Flask test client).
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from casework.models import RiskLevel
from crisisline.accounts.models import Organisation, OrgKind
from hotline.models import Channel, Contact, ContactMessage, ContactStatus, Priority
from tests.conftest import wait_for

WRAP_UP = {"categories": ["academic_pressure"], "summary": "聊了考试压力",
           "wrap_up_code": "supported"}


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def start_chat(browser, body: str = "我想找人聊聊", centre: str | None = "T-A"):
    """Post the first message from the page, as the student's school links to it."""
    query = f"?centre={centre}" if centre else ""
    page = browser.get(f"/chat{query}").get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    assert action == f"/chat{query}"
    return browser.post(action, data={"csrf_token": csrf(page), "body": body,
                                      "language": "zh_Hans_CN"})


def conversation_of(browser) -> int | None:
    with browser.session_transaction() as session:
        return session.get("chat_contact_id")


def stored(ctx, contact_id: int) -> list[ContactMessage]:
    with ctx() as db:
        return db.scalars(select(ContactMessage).where(ContactMessage.contact_id == contact_id)
                          .order_by(ContactMessage.id)).all()


def contact_row(ctx, contact_id: int) -> Contact:
    with ctx() as db:
        return db.get(Contact, contact_id)


@contextmanager
def chat_socket(live_server: str, browser):
    """A student's page connected to /chat with ``browser``'s session cookie."""
    import socketio

    received: list[tuple[str, dict]] = []
    sock = socketio.Client(reconnection=False)
    sock.on("*", lambda event, data: received.append((event, data)), namespace="/chat")
    cookie = browser.get_cookie("session")
    headers = {"Origin": live_server}
    if cookie is not None:
        headers["Cookie"] = f"session={cookie.value}"
    try:
        sock.connect(live_server, namespaces=["/chat"], headers=headers,
                     transports=["polling"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        pass
    sock.received = received
    sock.joined = "/chat" in sock.namespaces
    try:
        yield sock
    finally:
        sock.disconnect()


def say(sock, body) -> dict:
    """Send a message as the page does; the acknowledgement says whether it was kept."""
    return sock.call("message", {"body": body}, namespace="/chat", timeout=5)


@pytest.fixture
def answered_chat(app, ctx, api, world):
    """A student's chat, answered by t_volunteer: (the student's browser, contact id)."""
    volunteer = api("volunteer")
    assert volunteer.post("/api/presence/sign_in").status_code == 200
    student = app.test_client()
    start_chat(student)
    [offer] = volunteer.get("/api/offers/mine").json
    contact_id = volunteer.post(f"/api/offers/{offer['id']}/accept").json["id"]
    assert contact_id == conversation_of(student)
    return student, contact_id


# -- the page and the first message ------------------------------------------------------------

def test_the_chat_page_speaks_chinese_by_default(app):
    page = app.test_client().get("/chat")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "和我们聊聊" in body and "开始聊天" in body and "120" in body
    assert "Talk to us" not in body


def test_the_first_message_opens_a_conversation_in_the_queue(app, ctx, world):
    student = app.test_client()
    response = start_chat(student, "我最近压力很大，睡不着")
    assert response.status_code == 302 and response.headers["Location"].endswith("/chat")
    contact_id = conversation_of(student)
    assert contact_id is not None
    contact = contact_row(ctx, contact_id)
    assert (contact.channel, contact.status) == (Channel.WEB_CHAT, ContactStatus.QUEUED)
    assert contact.caller_number is None and contact.centre_id == world.orgs["A"].id
    assert [(m.inbound, m.body) for m in stored(ctx, contact_id)] == [
        (True, "我最近压力很大，睡不着")]
    page = student.get("/chat").get_data(as_text=True)
    assert "我最近压力很大，睡不着" in page and 'id="chat-form"' in page


def test_a_chat_opened_without_naming_a_centre_goes_to_the_first_centre(app, ctx, world):
    student = app.test_client()
    start_chat(student, centre=None)
    contact = contact_row(ctx, conversation_of(student))
    with ctx() as db:  # other tests' committed centres may come before this world's
        first = db.scalar(select(Organisation.id).where(
            Organisation.kind == OrgKind.HOTLINE_CENTRE).order_by(Organisation.id))
    assert contact.channel == Channel.WEB_CHAT
    assert contact.centre_id == first  # the first centre, as documented


def test_a_first_message_without_the_csrf_token_opens_nothing(app, ctx, world):
    student = app.test_client()
    response = student.post("/chat", data={"body": "你好"})
    assert response.status_code == 400
    assert conversation_of(student) is None
    with ctx() as db:
        assert db.scalars(select(Contact).where(Contact.channel == Channel.WEB_CHAT,
                                                Contact.status == ContactStatus.QUEUED)
                          ).all() == []


def test_an_empty_first_message_opens_nothing(app, ctx, world):
    student = app.test_client()
    start_chat(student, "   ")
    assert conversation_of(student) is None
    with ctx() as db:
        assert db.scalars(select(Contact).where(Contact.channel == Channel.WEB_CHAT,
                                                Contact.status == ContactStatus.QUEUED)
                          ).all() == []


# -- the socket ------------------------------------------------------------------------------

def test_a_page_without_a_conversation_cannot_join_the_chat(app, live_server, world):
    with chat_socket(live_server, app.test_client()) as sock:
        assert not sock.joined


def test_a_session_naming_a_contact_that_is_no_web_chat_cannot_join(app, live_server,
                                                                    world):
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["chat_contact_id"] = world.records["contact"].id  # someone's phone call
    with chat_socket(live_server, browser) as sock:
        assert not sock.joined


def test_a_later_message_is_kept_and_can_raise_the_risk(app, ctx, live_server, world):
    student = app.test_client()
    start_chat(student)
    contact_id = conversation_of(student)
    assert contact_row(ctx, contact_id).risk_level == RiskLevel.NONE
    with chat_socket(live_server, student) as sock:
        assert sock.joined
        answer = say(sock, "我已经写好遗书了")
    assert answer["ok"] is True
    messages = stored(ctx, contact_id)
    assert [m.body for m in messages] == ["我想找人聊聊", "我已经写好遗书了"]
    assert answer["id"] == messages[-1].id and messages[-1].inbound
    contact = contact_row(ctx, contact_id)
    assert contact.risk_level == RiskLevel.HIGH and contact.priority == Priority.HIGH


def test_a_later_message_is_kept_when_redis_cannot_count_it_and_the_limit_still_holds(
        app, ctx, live_server, world, monkeypatch):
    from flask_limiter import Limiter

    from crisisline import redis_waits
    from hotline.chat import MESSAGE_RATE

    class Failing:  # Flask-Limiter's counting while Redis is down or frozen
        def hit(self, *_args, **_kwargs):
            raise ConnectionError("Error 111 connecting to redis. Connection refused.")

    student = app.test_client()
    start_chat(student)
    contact_id = conversation_of(student)
    monkeypatch.setattr(Limiter, "limiter", property(lambda self: Failing()))
    try:
        with chat_socket(live_server, student) as sock:
            answers = [say(sock, f"第{n}条") for n in range(MESSAGE_RATE.amount + 1)]
    finally:
        redis_waits.pause.reset()
    assert [a["ok"] for a in answers] == [True] * MESSAGE_RATE.amount + [False]
    assert len(stored(ctx, contact_id)) == 1 + MESSAGE_RATE.amount


@pytest.mark.parametrize("body, error", [("", "请先输入消息。"), ("  ", "请先输入消息。"),
                                         ("长" * 2001, "这条消息太长了")])
def test_an_empty_or_overlong_message_is_refused_in_chinese(app, ctx, live_server, world,
                                                           body, error):
    student = app.test_client()
    start_chat(student)
    contact_id = conversation_of(student)
    with chat_socket(live_server, student) as sock:
        answer = say(sock, body)
    assert answer["ok"] is False and error in answer["error"]
    assert [m.body for m in stored(ctx, contact_id)] == ["我想找人聊聊"]


def test_the_volunteers_reply_reaches_the_students_page(ctx, api, live_server, answered_chat):
    student, contact_id = answered_chat
    with chat_socket(live_server, student) as sock:
        assert sock.joined
        reply = api("volunteer").post(f"/api/contacts/{contact_id}/messages",
                                      {"body": "你好，我是热线志愿者。"})
        assert reply.status_code == 201 and reply.json["delivery"] == "delivered"
        pushed = wait_for(sock, "chat.message")
    assert [message["body"] for message in pushed] == ["你好，我是热线志愿者。"]
    assert pushed[0]["inbound"] is False and pushed[0]["id"] == reply.json["id"]
    page = student.get("/chat").get_data(as_text=True)
    assert "你好，我是热线志愿者。" in page


def test_a_wrapped_up_chat_tells_the_students_page_it_has_ended(api, live_server,
                                                                answered_chat):
    student, contact_id = answered_chat
    with chat_socket(live_server, student) as sock:
        assert sock.joined
        done = api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", WRAP_UP)
        assert done.status_code == 200
        ended = wait_for(sock, "chat.ended")
    assert ended == [{"contact_id": contact_id}]


def test_a_wrapped_up_chat_refuses_further_messages(ctx, api, live_server, answered_chat):
    student, contact_id = answered_chat
    api("volunteer").post(f"/api/contacts/{contact_id}/wrap-up", WRAP_UP)
    with chat_socket(live_server, student) as sock:
        answer = say(sock, "还在吗？")
    assert answer["ok"] is False and "已结束" in answer["error"]
    assert [m.body for m in stored(ctx, contact_id)] == ["我想找人聊聊"]
    page = student.get("/chat").get_data(as_text=True)
    assert "本次对话已结束" in page and 'id="chat-form"' not in page


def test_a_student_hears_only_their_own_conversation(app, ctx, api, live_server,
                                                      answered_chat):
    first, first_id = answered_chat
    second = app.test_client()
    start_chat(second, "我是另一个同学")
    second_id = conversation_of(second)
    assert second_id != first_id
    with chat_socket(live_server, first) as mine, chat_socket(live_server, second) as theirs:
        assert mine.joined and theirs.joined
        api("volunteer").post(f"/api/contacts/{first_id}/messages", {"body": "只给第一位同学"})
        assert say(theirs, "第二位同学的话")["ok"] is True
        assert [m["body"] for m in wait_for(mine, "chat.message")] == ["只给第一位同学"]
        assert wait_for(theirs, "chat.message", seconds=1.0) == []
    assert theirs.received == []
    assert [m.body for m in stored(ctx, first_id)] == ["我想找人聊聊", "只给第一位同学"]
    assert [m.body for m in stored(ctx, second_id)] == ["我是另一个同学", "第二位同学的话"]
    assert "只给第一位同学" not in second.get("/chat").get_data(as_text=True)


def test_the_volunteer_sees_the_students_messages_in_the_transcript(ctx, api, live_server,
                                                                    answered_chat):
    student, contact_id = answered_chat
    with chat_socket(live_server, student) as sock:
        assert say(sock, "考试没考好")["ok"] is True
    listed = api("volunteer").get(f"/api/contacts/{contact_id}/messages").json
    assert [(m["inbound"], m["body"]) for m in listed] == [(True, "我想找人聊聊"),
                                                          (True, "考试没考好")]
