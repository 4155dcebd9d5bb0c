"""What a person is told stays in their language (issue 11 D).

The moments users saw English, often with internal names, each driven as a user meets it
(HTTP pages, the JSON API, the picture) under the default language; and the mechanism that
makes every other test check it: under testing an unmarked or untranslated message, or one
that would show an internal name, raises instead of reaching a person.
"""
from __future__ import annotations

import re

import marshmallow as ma
import pytest
from flask import flash
from flask_babel import gettext as _, lazy_gettext as _l

from casework.models import Case
from casework.workflow import HANDLERS
from crisisline.messages import FIELD_MESSAGES, Message, Untranslated, problem_line, shown
from hotline.models import Channel, Contact, ContactStatus
from tests.casework.test_case_pages import csrf, open_case_in_browser
from tests.conftest import login
from tests.world import PASSWORD

SNAKE_CASE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _text(response) -> str:
    """The page's visible text (markup, attribute values and scripts left out)."""
    page = re.sub(r"<script\b.*?</script>", "", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


@pytest.fixture
def active_call(ctx, world):
    with ctx() as db:
        contact = Contact(centre_id=world.orgs["A"].id, channel=Channel.VOICE,
                          status=ContactStatus.ACTIVE, handled_by_id=world.users["volunteer"].id)
        db.add(contact)
        db.commit()
        return contact.id


def _in_state(ctx, case_id: int, state: str) -> int:
    """Put the case in ``state``; its new version."""
    with ctx() as db:
        case = db.get(Case, case_id)
        case.state = state
        db.commit()
        return case.version


# -- the examples -------------------------------------------------------------------

def test_no_free_counselor_is_said_in_chinese_on_the_page_and_in_the_api(client, api,
                                                                        active_call):
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_call}").get_data(as_text=True)
    refused = client.post(f"/contacts/{active_call}/transfer", data={"csrf_token": csrf(page)})
    assert refused.status_code == 422
    assert "目前没有空闲的值班心理咨询师" in _text(refused)
    assert "no on-duty counselor" not in refused.get_data(as_text=True)

    answer = api("volunteer").post(f"/api/contacts/{active_call}/transfer")
    assert answer.status_code == 409
    assert answer.json["error"] == "目前没有空闲的值班心理咨询师：请继续陪伴来电者，并联系您的督导"


def test_a_screen_missing_an_answer_names_the_question_not_its_internal_name(client,
                                                                            active_call):
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_call}").get_data(as_text=True)
    refused = client.post(f"/contacts/{active_call}/screen", data={
        "csrf_token": csrf(page), "thoughts": "no", "behaviour": "no"})
    text = _text(refused)
    assert refused.status_code == 422
    assert "第 1 题（想死的念头）：请回答“是”或“否”" in text
    assert "wish_dead" not in text and "answer yes or no" not in text
    # what was answered is still ticked
    assert re.search(r'name="thoughts" value="no" checked', refused.get_data(as_text=True))


def test_a_missing_field_in_the_api_is_named_in_chinese(api, active_call, world):
    refused = api("volunteer").post(f"/api/contacts/{active_call}/messages", {})
    assert refused.status_code == 422
    assert refused.json["fields"] == {"body": "必填"}
    assert refused.json["errors"] == {"json": {"body": "必填"}}
    assert refused.json["error"] == "部分填写内容无效。"
    assert "Missing data" not in str(refused.json)

    case = world.records["team_case"]
    step = api("counselor").post(f"/api/cases/{case.id}/events/dispatch",
                                 {"version": case.version, "data": {"risk_level": "high"}})
    assert step.status_code == 422
    assert step.json["fields"] == {"responder": "必填", "emergency_services": "必填"}


def test_an_unknown_field_or_a_body_that_is_not_an_object_is_named_in_chinese(api,
                                                                             active_call):
    unknown = api("volunteer").post(f"/api/contacts/{active_call}/messages",
                                    {"body": "你好", "colour": "red"})
    assert unknown.status_code == 422 and unknown.json["fields"] == {"colour": "不是本表单的字段"}
    volunteer = api("volunteer")
    listed = volunteer.client.post(f"/api/contacts/{active_call}/messages", json=[1, 2],
                                   headers=volunteer.headers)
    assert listed.status_code == 422
    assert listed.json["fields"] == {"_schema": "格式不正确，应为一组命名的值"}


def test_school_consent_too_early_is_refused_in_chinese(api, ctx, world):
    case = world.records["team_case"]
    version = _in_state(ctx, case.id, "guardian_contact")
    refused = api("counselor").post(f"/api/cases/{case.id}/events/refer_to_hospital", {
        "version": version, "data": {"hospital_id": world.orgs["H1"].id,
                                          "legal_basis": "school_consent"}})
    assert refused.status_code == 422
    fields = refused.json["fields"]
    assert fields["legal_basis"] == "只有在 60 分钟内仍联系不到监护人时，才能由学校同意送医"
    assert fields["guardian_contact_attempts"] == "请记录联系监护人的尝试"
    assert fields["school_consent_form"] == "请附上已签字的学校送医同意书"


def test_a_wrong_certificate_is_named_by_its_label(client, ctx, world):
    case = world.records["team_case"]
    version = _in_state(ctx, case.id, "on_leave")
    login(client, "t_counselor", PASSWORD)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    refused = client.post(f"/cases/{case.id}/events/apply_return", data={
        "csrf_token": csrf(page), "version": str(version),
        "certificate_document_id": "999", "application_document_id": "998"})
    text = _text(refused)
    assert refused.status_code == 422
    assert "康复证明（文件编号）：必须是本个案已附上的“康复证明”文件" in text
    assert "recovery_certificate" not in text and "document attached" not in text


def test_a_case_out_of_reach_is_refused_in_chinese(client, api, world):
    case = world.records["case_b"]
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 403 and "您无权打开这个个案" in _text(page)
    assert "you may not" not in page.get_data(as_text=True)

    answer = api("counselor").get(f"/api/cases/{case.id}")
    assert answer.status_code == 403 and answer.json["error"] == "您无权打开这个个案"


@pytest.mark.parametrize("content, content_type, message", [
    (b"hello", "text/plain", "必须是 PDF、PNG 或 JPEG 文件（按文件内容检查）"),
    (b"", "application/pdf", "文件是空的"),
])
def test_an_upload_is_refused_in_chinese(api, world, content, content_type, message):
    case = world.records["team_case"]
    refused = api("counselor").upload(case.id, "parent_notice", content=content,
                                      content_type=content_type)
    assert refused.status_code == 422 and refused.json["fields"] == {"file": message}


def test_an_upload_of_an_unknown_kind_on_the_page_keeps_the_choice(client, world):
    case = world.records["team_case"]
    login(client, "t_counselor", PASSWORD)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    refused = client.post(f"/cases/{case.id}/documents", data={
        "csrf_token": csrf(page), "kind": "parent_notice", "issued_by_hospital_id": ""})
    assert refused.status_code == 422
    assert "文件：文件是空的" in _text(refused)
    assert 'value="parent_notice" selected' in refused.get_data(as_text=True)


def test_the_workflow_picture_labels_its_arrows_in_the_readers_language(client, world):
    case = world.records["team_case"]
    login(client, "t_counselor", PASSWORD)
    picture = client.get(f"/cases/{case.id}/workflow.svg").get_data(as_text=True)
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", picture)
    assert "派员到场" in labels and "已到场：联系监护人" in labels
    assert not [label for label in labels if SNAKE_CASE.search(label)], labels
    english = client.get(f"/cases/{case.id}/workflow.svg?lang=en").get_data(as_text=True)
    assert "Dispatch to the scene" in english and ">dispatch<" not in english


def test_the_same_refusal_reads_in_english_on_request(client, active_call):
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_call}?lang=en").get_data(as_text=True)
    refused = client.post(f"/contacts/{active_call}/transfer", data={"csrf_token": csrf(page)})
    assert "no on-duty counselor is free right now" in _text(refused)


# -- forms: refused forms keep what was typed, saved forms say so ----------------------------

def test_a_refused_wrap_up_keeps_what_was_typed(client, active_call):
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_call}").get_data(as_text=True)
    refused = client.post(f"/contacts/{active_call}/wrap-up", data={
        "csrf_token": csrf(page), "summary": "来电者谈到考试压力", "categories": ["family"]})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "结束代码：请从提供的结束代码中选择一项" in _text(refused)
    assert ">来电者谈到考试压力</textarea>" in body
    assert 'value="family" checked' in body


def test_a_refused_case_step_keeps_what_was_typed(client, world):
    login(client, "t_counselor", PASSWORD)
    case_id, page = open_case_in_browser(client)
    refused = client.post(f"/cases/{case_id}/events/dispatch", data={
        "csrf_token": csrf(page), "version": "1", "responder": "值班辅导员王老师",
        "emergency_services": ["120"]})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "风险等级：必填" in _text(refused)
    assert 'value="值班辅导员王老师"' in body
    assert 'value="120" class="check" checked' in body


def test_a_refused_report_keeps_what_the_reporter_wrote(client, world):
    login(client, "t_reporter", PASSWORD)
    page = client.get("/school").get_data(as_text=True)
    refused = client.post("/school/reports", data={
        "csrf_token": csrf(page), "kind": "at_risk", "student_number": "no-such-number",
        "note": "他最近一直一个人坐着"})
    assert refused.status_code == 422
    assert "学生：必须是本校学生" in _text(refused)
    assert ">他最近一直一个人坐着</textarea>" in refused.get_data(as_text=True)


def test_a_saved_follow_up_says_it_was_saved(client, world):
    case = world.records["team_case"]
    login(client, "t_counselor", PASSWORD)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    saved = client.post(f"/cases/{case.id}/follow-ups", follow_redirects=True, data={
        "csrf_token": csrf(page), "kind": "phone", "outcome": "学生情绪稳定",
        "occurred_at": "2026-01-05T10:00"})
    assert saved.status_code == 200 and "已保存。" in _text(saved)


def test_a_saved_screen_says_it_was_saved(client, active_call):
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_call}").get_data(as_text=True)
    saved = client.post(f"/contacts/{active_call}/screen", follow_redirects=True, data={
        "csrf_token": csrf(page), "wish_dead": "no", "thoughts": "no", "behaviour": "no"})
    assert saved.status_code == 200 and "筛查已保存。" in _text(saved)


def test_the_command_line_refuses_in_the_terminals_language(crisisline):
    crisisline("init")
    chinese = crisisline("users", "token", "nobody", check=False,
                         env={"LANG": "zh_CN.UTF-8", "LC_ALL": ""})
    assert chinese.returncode != 0 and "没有名为“nobody”的用户" in chinese.stderr
    english = crisisline("users", "token", "nobody", check=False,
                         env={"LANG": "en_GB.UTF-8", "LC_ALL": ""})
    assert "no user named 'nobody'" in english.stderr


def test_the_command_line_refuses_in_chinese_unless_the_terminal_or_lang_asks_otherwise(
        crisisline):
    crisisline("init")
    plain = crisisline("users", "token", "nobody", check=False, env={"LANG": "C.UTF-8"})
    assert "没有名为“nobody”的用户" in plain.stderr
    asked = crisisline("--lang", "en", "users", "token", "nobody", check=False,
                       env={"LANG": "zh_CN.UTF-8"})
    assert "no user named 'nobody'" in asked.stderr


# -- the mechanism that makes every test check the language ----------------------------------

def test_an_unmarked_message_is_refused_under_testing(app):
    with app.test_request_context("/"):
        with pytest.raises(Untranslated, match="unmarked"):
            shown("you may not open this case")


def test_a_message_without_a_chinese_translation_is_refused_under_testing(app):
    with app.test_request_context("/"):
        with pytest.raises(Untranslated, match="no Chinese translation"):
            shown(_l("a message nobody translated"))


def test_a_message_showing_an_internal_name_is_refused_under_testing(app):
    with app.test_request_context("/"):
        with pytest.raises(Untranslated, match="recovery_certificate"):
            shown(_l("must be a document attached to this case, of the kind “%(kind)s”",
                     kind="recovery_certificate"))
        with pytest.raises(Untranslated, match="no label"):
            problem_line("a_field_without_label", _l("required"))


def test_an_untranslated_flash_is_refused_under_testing(app):
    with app.test_request_context("/"):
        app.preprocess_request()
        flash(_("Saved."), "success")  # a translated catalog message passes
        with pytest.raises(Untranslated, match="not a translated catalog message"):
            flash("Saved, in plain English.", "success")


def test_a_refusal_reaching_a_person_is_checked_through_the_error_handler(api, active_call,
                                                                         monkeypatch):
    from crisisline.errors import Conflict
    from hotline import services

    def refuse(*_args, **_kwargs):
        raise Conflict("plain English that was never marked")
    monkeypatch.setattr(services, "transfer", refuse)
    with pytest.raises(Untranslated):
        api("volunteer").post(f"/api/contacts/{active_call}/transfer")


def test_every_marshmallow_message_is_a_catalog_message():
    for field_class in vars(ma.fields).values():
        if isinstance(field_class, type) and issubclass(field_class, ma.fields.Field):
            own = field_class.__dict__.get("default_error_messages", {})
            assert all(isinstance(message, Message) for message in own.values()), field_class
    assert FIELD_MESSAGES  # and the schemas declared before the messages were replaced:
    for schema, _apply in HANDLERS.values():
        for name, field in schema().fields.items():
            assert all(isinstance(message, Message)
                       for message in field.error_messages.values()), (schema, name)
