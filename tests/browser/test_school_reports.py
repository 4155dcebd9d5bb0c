"""A head teacher's at-risk report, in a real browser: filed from a 360 px phone, it appears
on the supervisor's console without a reload; a counselor opens a case for it, and the
reporter's page shows the case, again without a reload."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import no_sideways_scroll, screenshot, sign_in

PHONE = (360, 740)
SEEN = "课间发现手腕有新的划痕，说不想活了"


def live(page) -> None:
    """The page's console socket is connected: pushes reach it from now on."""
    expect(page.locator("body")).to_have_attribute("data-live", "connected")


def test_a_report_from_a_phone_reaches_the_centre_and_becomes_a_case(open_page):
    supervisor = open_page()
    sign_in(supervisor, "demo_supervisor")
    live(supervisor)
    reports = supervisor.locator("#school-reports")

    reporter = open_page(viewport=PHONE)
    sign_in(reporter, "demo_reporter")
    expect(reporter.locator("h1")).to_have_text("学校报告")
    no_sideways_scroll(reporter)
    live(reporter)
    reporter.locator("#report-kind").select_option("at_risk")
    reporter.locator("#report-number").fill("S000001")
    reporter.locator("#report-note").fill(SEEN)
    reporter.get_by_role("button", name="提交").click()
    expect(reporter.locator(".flash.success")).to_contain_text("报告已提交")
    mine = reporter.locator("#reports li").filter(has_text="罗欣").first
    expect(mine).to_contain_text("已接收")
    no_sideways_scroll(reporter)
    screenshot(reporter, "school-report-filed-360px")

    # the supervisor's console lists it without a reload, with who reported it
    entry = reports.locator("li").filter(has_text=SEEN)
    expect(entry).to_contain_text("罗欣", timeout=15_000)
    expect(entry).to_contain_text("孙老师（班主任）")
    expect(supervisor.locator("#alerts")).to_contain_text("学校报告了一名风险学生")
    screenshot(supervisor, "school-report-on-supervisor-console")

    counselor = open_page()
    sign_in(counselor, "demo_counselor")
    counselor.locator("#school-reports li").filter(has_text=SEEN).get_by_role("link").click()
    expect(counselor.locator("h1")).to_contain_text("学校报告")
    counselor.get_by_role("button", name="接手").click()
    expect(counselor.locator(".flash.success")).to_contain_text("您已接手此报告")
    counselor.get_by_role("button", name="立案（或并入该生的在办个案）").click()
    expect(counselor).to_have_url(re.compile(r"/cases/\d+$"))
    case_number = counselor.url.rsplit("/", 1)[1]
    expect(counselor.locator("section[aria-labelledby=student-heading]")).to_contain_text("罗欣")

    # the reporter sees the case, and the supervisor's list lets it go, both live
    expect(mine).to_contain_text(f"已立案 · 个案 #{case_number}", timeout=15_000)
    expect(reports.locator("li").filter(has_text=SEEN)).to_have_count(0, timeout=15_000)
    no_sideways_scroll(reporter)
    screenshot(reporter, "school-report-case-opened-360px")


def test_a_zero_report_from_a_phone_is_filed_once(open_page):
    reporter = open_page(viewport=PHONE)
    sign_in(reporter, "no1.head.c1")
    reporter.locator("#report-kind").select_option("zero")
    reporter.get_by_role("button", name="提交").click()
    expect(reporter.locator(".flash.success")).to_contain_text("报告已提交")
    expect(reporter.locator("#reports li").first).to_contain_text("初一/1班")
    reporter.locator("#report-kind").select_option("zero")
    reporter.get_by_role("button", name="提交").click()
    expect(reporter.locator(".flash.error")).to_contain_text("当天已报告过")
    no_sideways_scroll(reporter)
    screenshot(reporter, "school-zero-report-refused-360px")


def test_a_weekly_class_report_from_a_phone_shows_on_the_schools_compliance_view(open_page):
    committee = open_page(viewport=PHONE)
    sign_in(committee, "no1.c1.committee")
    committee.get_by_role("link", name="填写").first.click()
    expect(committee.locator("h1")).to_have_text("班级心理周报")
    committee.locator("#area-study").fill("期中复习，压力偏大")
    committee.locator("#area-life").fill("作息正常")
    committee.locator("#area-relationships").fill("同学关系融洽")
    committee.get_by_role("button", name="提交").click()  # emotions left empty
    expect(committee.locator(".flash.error")).to_contain_text("情感")
    expect(committee.locator("#area-study")).to_have_value("期中复习，压力偏大")  # kept
    committee.locator("#area-emotions").fill("个别同学情绪低落")
    committee.locator("#watch-0-number").fill("S000002")
    committee.locator("#watch-0-note").fill("近来常独自坐着，不和人说话")
    no_sideways_scroll(committee)
    screenshot(committee, "school-weekly-report-form-360px")
    committee.get_by_role("button", name="提交").click()
    expect(committee.locator(".flash.success")).to_contain_text("报告已提交")
    expect(committee.locator("#routine-heading + ul")).to_contain_text("已提交：报告 #")

    centre = open_page(viewport=PHONE)
    sign_in(centre, "no1.centre")
    centre.get_by_role("link", name="报告提交情况").click()
    row = centre.locator("table.compliance tr").filter(has_text="初一/1班")
    expect(row.locator("td").first).to_have_text("按时")  # this week, shown first
    expect(centre.locator("table.compliance tr").filter(has_text="初一/2班").locator("td").first) \
        .to_have_text("未到期")
    no_sideways_scroll(centre)  # the table scrolls inside its box, the page does not
    screenshot(centre, "school-compliance-360px")
