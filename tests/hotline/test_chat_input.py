"""A chat ``message`` event whose body is not text, or text no database can store, is
answered with a refusal naming ``body`` (never left unanswered) and keeps nothing."""
from __future__ import annotations

import re

import pytest

from tests.hotline.test_web_chat import chat_socket, conversation_of, start_chat, stored

NOT_TEXT = [["一条", "消息"], 42, 4.2, {"text": "消息"}, True, None]
BAD_TEXT = ["\ud800", "半个\udfff字", "a\x00b", "换\x1b行"]


def ask(sock, data) -> dict:
    return sock.call("message", data, namespace="/chat", timeout=5)


@pytest.fixture
def chatting(app, live_server, world):
    student = app.test_client()
    start_chat(student)
    with chat_socket(live_server, student) as sock:
        assert sock.joined
        yield sock, conversation_of(student)


@pytest.mark.parametrize("body", NOT_TEXT + BAD_TEXT, ids=repr)
def test_a_message_whose_body_is_not_storable_text_is_refused_naming_the_body(
        ctx, chatting, body):
    sock, contact_id = chatting
    answer = ask(sock, {"body": body})
    assert answer["ok"] is False and answer["field"] == "body"
    assert re.search(r"[\u4e00-\u9fff]", answer["error"])  # in Chinese by default
    assert [m.body for m in stored(ctx, contact_id)] == ["我想找人聊聊"]


@pytest.mark.parametrize("data", [["body", "消息"], 42, "\ud800", True], ids=repr)
def test_a_message_event_that_is_no_object_is_answered(ctx, chatting, data):
    sock, contact_id = chatting
    answer = ask(sock, data)
    assert answer["ok"] is False and answer["field"] == "body"
    assert [m.body for m in stored(ctx, contact_id)] == ["我想找人聊聊"]


def test_a_message_with_line_breaks_and_tabs_is_kept(ctx, chatting):
    sock, contact_id = chatting
    assert ask(sock, {"body": "第一行\n第二行\t完"})["ok"] is True
    assert stored(ctx, contact_id)[-1].body == "第一行\n第二行\t完"
