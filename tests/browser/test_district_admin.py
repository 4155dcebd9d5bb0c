"""The administrator sets up a district in a real browser, in Chinese: a hotline centre
with two numbers, a hospital, a school with a class and a dormitory room, and a team;
then every district page at 360 px without sideways scrolling."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import no_sideways_scroll, screenshot, sign_in

PHONE = (360, 800)


def save(page) -> None:
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash.success")).to_have_text("已保存。")


def add_unit(page, kind: str, name: str, parent: str | None = None) -> None:
    page.locator("#unit-kind").select_option(label=kind)
    page.locator("#unit-name").fill(name)
    if parent:
        page.locator("#unit-parent").select_option(label=parent)
    page.get_by_role("button", name="添加单位").click()
    expect(page.locator(".flash.success")).to_be_visible()


def test_the_admin_sets_up_a_district_in_chinese_pages(open_page):
    page = open_page()
    sign_in(page, "demo_admin")
    page.get_by_role("link", name="区域设置").click()
    expect(page.locator("h1")).to_have_text("区域设置")

    page.get_by_role("link", name="添加热线中心").click()
    page.get_by_label("代码").fill("QJ-HOTLINE")
    page.get_by_label("名称").fill("綦江区学生心理热线")
    page.get_by_label("热线号码").fill("13800138000\n023-48612345")
    page.get_by_label("热线号码").press("Tab")
    page.get_by_label("备用线路").fill("023 4861 0000")
    save(page)
    expect(page.locator("h1")).to_have_text("綦江区学生心理热线")
    expect(page.get_by_label("热线号码")).to_have_value("+8613800138000\n+862348612345")
    screenshot(page, "district-centre")

    page.get_by_label("新建小组").fill("夜班值班组")
    page.get_by_role("button", name="添加小组").click()
    expect(page.locator("h1")).to_have_text("夜班值班组")

    page.goto("/admin/district/hospitals/new")
    page.get_by_label("代码").fill("QJ-PEOPLE")
    page.get_by_label("名称").fill("綦江区人民医院")
    page.get_by_label("医院类别").select_option(label="二甲及以上综合医院精神科")
    page.get_by_label("绿色通道电话").fill("023-48600000")
    page.get_by_label("所属热线中心").select_option(label="綦江区学生心理热线")
    save(page)
    expect(page.get_by_label("绿色通道电话")).to_have_value("+862348600000")
    screenshot(page, "district-hospital")

    page.goto("/admin/district/schools/new")
    page.get_by_label("代码").fill("QJ-COLLEGE")
    page.get_by_label("名称").fill("綦江职业技术学院")
    page.get_by_label("学校类型").select_option(label="高校")
    page.get_by_label("所属热线中心").select_option(label="綦江区学生心理热线")
    page.get_by_label("綦江区人民医院").check()
    save(page)
    add_unit(page, "院系", "计算机学院")
    add_unit(page, "班级", "2023级1班", parent="计算机学院 · 院系")
    add_unit(page, "宿舍楼", "1号楼")
    add_unit(page, "宿舍", "302", parent="1号楼 · 宿舍楼")
    units = page.locator("ul.units")
    for name in ("计算机学院", "2023级1班", "1号楼", "302"):
        expect(units.get_by_text(name, exact=True)).to_be_visible()
    expect(page.get_by_label("綦江区人民医院")).to_be_checked()
    screenshot(page, "district-school")

    # a class put at the top of the school is refused in Chinese, what was typed kept
    page.locator("#unit-kind").select_option(label="班级")
    page.locator("#unit-name").fill("无院系的班")
    page.get_by_role("button", name="添加单位").click()
    expect(page.locator(".flash.error")).to_have_text("上级单位：班级应属于院系或年级")
    expect(page.locator("#unit-name")).to_have_value("无院系的班")
    screenshot(page, "district-school-refused")

    page.goto("/admin/district")
    page.get_by_role("link", name="省学生心理危机干预热线中心").click()
    page.locator("#teams").get_by_role("link", name=re.compile("值班")).first.click()
    page.get_by_label("添加组员（姓名或用户名）").fill("李晓雨（志愿者）")
    page.get_by_role("button", name="加入小组").click()
    expect(page.locator("ul.records")).to_contain_text("李晓雨（志愿者）")
    expect(page.locator("ul.records")).to_contain_text("张敏（值班咨询师）")
    screenshot(page, "district-team")
    team_page = page.url
    page.goto("/admin/district")
    for name in ("綦江区学生心理热线", "綦江区人民医院", "綦江职业技术学院"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "district-index")

    phone = open_page(viewport=PHONE)
    sign_in(phone, "demo_admin")
    expect(phone).not_to_have_url(re.compile(r"/login"))  # signed in before going on
    for path, name in (("/admin/district", "index"),
                       ("/admin/district/centres/QJ-HOTLINE", "centre"),
                       ("/admin/district/schools/QJ-COLLEGE", "school"),
                       ("/admin/district/hospitals/QJ-PEOPLE", "hospital"),
                       ("/admin/district/schools/new", "new-school"),
                       (team_page, "team")):
        phone.goto(path)
        expect(phone.locator("h1")).to_be_visible()
        no_sideways_scroll(phone)
        screenshot(phone, f"district-{name}-360px")
    phone.goto("/admin/district/schools/QJ-COLLEGE")
    phone.locator("ul.units summary", has_text="2023级1班").click()  # its rename and remove
    no_sideways_scroll(phone)
    screenshot(phone, "district-school-unit-open-360px")
