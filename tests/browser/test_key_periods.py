"""A school's psychology centre teacher keeps its key periods from a 360 px phone: the
school year's defaults are there on the first visit, a major event is added, a wrong date
is refused in Chinese with what was typed kept, and nothing scrolls sideways."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import no_sideways_scroll, screenshot, sign_in

PHONE = (360, 740)


def test_the_psychology_centre_teacher_keeps_the_calendar_from_a_phone(open_page):
    teacher = open_page(viewport=PHONE)
    sign_in(teacher, "no1.centre")  # a reporter's home is their school page
    teacher.get_by_role("link", name="本校重要时段日程").click()
    expect(teacher.locator("h1")).to_have_text("重要时段")
    names = teacher.locator("#key-periods > li > strong")
    expect(names.filter(has_text="秋季开学前后")).to_have_count(1)
    expect(names.filter(has_text="届毕业生离校前")).to_have_count(1)
    no_sideways_scroll(teacher)
    screenshot(teacher, "key-periods-defaults-360px")

    first = date.today() + timedelta(days=20)
    teacher.locator("#period-kind").select_option("major_event")
    teacher.locator("#period-name").fill("校运动会前后")
    teacher.locator("#period-starts").fill(first.isoformat())
    teacher.locator("#period-ends").fill((first - timedelta(days=2)).isoformat())
    teacher.get_by_role("button", name="添加", exact=True).click()
    expect(teacher.locator(".flash.error")).to_contain_text("结束日期：不能早于开始日期")
    expect(teacher.locator("#period-name")).to_have_value("校运动会前后")
    no_sideways_scroll(teacher)
    screenshot(teacher, "key-periods-refused-360px")

    teacher.locator("#period-ends").fill((first + timedelta(days=2)).isoformat())
    teacher.get_by_role("button", name="添加", exact=True).click()
    expect(teacher.locator(".flash.success")).to_contain_text("重要时段已添加")
    added = teacher.locator("#key-periods > li").filter(
        has=teacher.locator("strong", has_text="校运动会前后"))
    expect(added.locator("> span").first).to_have_text("重大活动前后")
    added.locator("summary").click()
    expect(added.get_by_role("button", name="删除此重要时段")).to_be_visible()
    no_sideways_scroll(teacher)
    screenshot(teacher, "key-periods-change-open-360px")
