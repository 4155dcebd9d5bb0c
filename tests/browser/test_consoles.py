"""Each role's console in a real browser, in Chinese; and one simulated call from the queue
to a crisis case that the counselor's console shows live and dispatches."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select

from crisisline.config import DEMO_HOTLINE
from hotline.models import Contact
from hotline.simulator import Simulator
from tests.browser.conftest import screenshot, sign_in


@pytest.mark.parametrize("username, heading", [
    ("demo_volunteer", "志愿者工作台"), ("demo_counselor", "值班咨询师工作台"),
    ("demo_supervisor", "督导工作台"), ("demo_liaison", "医院联络员门户"),
    ("demo_reporter", "学校报告"),
])
def test_each_role_signs_in_by_keyboard_and_sees_its_console_in_chinese(open_page, username,
                                                                         heading):
    page = open_page()
    sign_in(page, username)
    expect(page.locator("h1")).to_have_text(heading)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("body")).to_have_attribute("data-live", "connected")  # Socket.IO up
    screenshot(page, f"console-{username}")


def test_the_supervisor_wallboard_shows_the_hotline_at_a_glance(open_page):
    page = open_page()
    sign_in(page, "demo_supervisor")
    for tile in ("当前排队", "最长等待", "20秒内接听率（24小时）", "放弃率（24小时）"):
        expect(page.locator(".tile", has_text=tile)).to_be_visible()
    expect(page.get_by_role("img", name="人员状态")).to_be_visible()
    expect(page.locator("text=超时的个案步骤")).to_be_visible()


def test_the_student_chat_page_speaks_chinese_without_an_account(open_page):
    page = open_page(viewport=(420, 800))
    page.goto("/chat")
    expect(page.locator("h1")).to_have_text("和我们聊聊")
    expect(page.locator("text=120或110")).to_be_visible()
    screenshot(page, "student-chat")


def test_a_simulated_call_becomes_a_dispatched_case_with_every_console_live(open_page,
                                                                             demo_site):
    volunteer, counselor = open_page(), open_page()
    sign_in(volunteer, "demo_volunteer")
    sign_in(counselor, "demo_counselor")
    volunteer.get_by_role("button", name="上线值班").click()
    expect(volunteer.locator("[data-presence]")).to_have_attribute("data-presence", "available")
    expect(volunteer.locator("body")).to_have_attribute("data-live", "connected")
    expect(counselor.locator("body")).to_have_attribute("data-live", "connected")

    token = (demo_site.instance_path / "twilio_demo_token").read_text().strip()
    call_sid = Simulator(demo_site.url, token, DEMO_HOTLINE).call(imminent=True)

    offer = volunteer.locator(".offer")  # arrives without a reload
    expect(offer).to_be_visible()
    # seconds left, in the page's language
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"^\d+ 秒$"))
    screenshot(volunteer, "e2e-1-offered")
    offer.get_by_role("button", name="接听").click()
    expect(volunteer).to_have_url(re.compile(r"/contacts/\d+$"))

    for question in ("wish_dead", "thoughts", "method", "intent", "plan", "behaviour"):
        volunteer.locator(f"input[name={question}][value=yes]").check()
    volunteer.locator("input[name=behaviour_recent][value=yes]").check()
    volunteer.get_by_role("button", name="保存筛查结果").click()
    expect(volunteer.locator("dl.record")).to_contain_text("高")  # the screen's own risk
    volunteer.locator("#escalate-summary").fill("来电学生有具体计划，已稳定情绪")
    volunteer.get_by_role("button", name="升级：建立危机个案").click()
    expect(volunteer.locator(".flash.success")).to_be_visible()
    screenshot(volunteer, "e2e-2-escalated")
    case_id = _case_of(demo_site.database_url, call_sid)

    new_case = counselor.locator("#cases").get_by_role("link", name=str(case_id), exact=True)
    expect(new_case).to_be_visible()  # pushed to the counselor's console, no reload
    screenshot(counselor, "e2e-3-counselor-sees-case")
    new_case.click()
    counselor.locator("summary", has_text="派员到场").click()
    counselor.locator("#dispatch-risk_level").select_option("imminent")
    counselor.locator("#dispatch-responder").fill("王老师（学校心理老师）")
    counselor.get_by_role("button", name="派员到场").click()
    expect(counselor.locator("h1")).to_contain_text("现场处置")
    screenshot(counselor, "e2e-4-dispatched")


def _case_of(database_url: str, call_sid: str) -> int:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        case_id = connection.scalar(select(Contact.case_id).where(Contact.twilio_sid == call_sid))
    engine.dispose()
    assert case_id is not None, "escalating did not link the contact to a case"
    return case_id
