"""The people on the screens, in a real browser: a case page showing the student and the
guardian's phone, the student's file, and a picker that finds a student by name; on a
desktop and on a 360 px phone (no sideways scrolling)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import no_sideways_scroll, screenshot, sign_in

WIDTHS = {"desktop": (1280, 900), "phone": (360, 780)}


def settled(page) -> None:
    """The page's console socket has joined its rooms (each join reads, and audits, the
    record on the embedded SQLite): only then does the test move on, as a person would."""
    expect(page.locator("body")).to_have_attribute("data-live", "connected")


@pytest.mark.parametrize("device", list(WIDTHS))
def test_a_case_page_shows_the_student_and_guardian_and_leads_to_the_file(open_page, device):
    page = open_page(viewport=WIDTHS[device])
    sign_in(page, "demo_counselor")
    expect(page.locator("h1")).to_have_text("值班咨询师工作台")
    settled(page)
    page.locator("#cases a[href^='/cases/']").first.click()
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    student = page.locator("section[aria-labelledby=student-heading]")
    expect(student).to_contain_text("学号")
    expect(student).to_contain_text("班级")
    guardians = page.locator("section[aria-labelledby=guardians-heading]")
    expect(guardians.locator("a.tel").first).to_have_attribute("href", re.compile(r"^tel:\+86"))
    expect(page.locator("text=负责人")).to_be_visible()
    expect(page.locator("th", has_text="操作人")).to_be_attached()
    assert "(ID)" not in page.content() and "用户编号" not in page.content()
    no_sideways_scroll(page)
    screenshot(page, f"people-case-{device}")

    settled(page)
    page.get_by_role("link", name="学生档案").click()
    expect(page).to_have_url(re.compile(r"/students/\d+$"))
    expect(page.locator("h2", has_text="时间线")).to_be_visible()
    expect(page.locator("ol.timeline li").first).to_be_visible()
    expect(page.locator("a.tel").first).to_be_visible()
    no_sideways_scroll(page)
    screenshot(page, f"people-student-file-{device}")


def test_the_student_search_and_a_picker_find_a_student_by_name(open_page):
    page = open_page(viewport=WIDTHS["phone"])
    sign_in(page, "demo_supervisor")
    expect(page.locator("h1")).to_have_text("督导工作台")
    settled(page)
    page.goto("/students?q=王小明")
    expect(page.locator("table a", has_text="王小明")).to_be_visible()
    no_sideways_scroll(page)
    screenshot(page, "people-students-search-phone")

    page = open_page(viewport=WIDTHS["phone"])  # a counselor opens a case for a student
    sign_in(page, "demo_counselor")
    expect(page.locator("h1")).to_have_text("值班咨询师工作台")
    settled(page)
    page.locator("summary", has_text="新建个案").click()
    search = page.locator("#new-student")
    search.click()
    page.keyboard.type("李思")
    option = page.get_by_role("option", name=re.compile("李思雨"))
    expect(option).to_be_visible()
    option.click()
    expect(search).to_have_value(re.compile("李思雨"))
    assert page.locator("input[name=student_id]").input_value().isdigit()
    no_sideways_scroll(page)
    screenshot(page, "people-picker-phone")
