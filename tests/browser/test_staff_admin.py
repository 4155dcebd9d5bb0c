"""The staff administration in a real browser, in Chinese, on a desktop and on a 360 px
phone: the admin creates a school reporter with a unit and an identity (after the form
says why it cannot without a unit), resets someone to a temporary password; each newcomer
signs in with the link or the temporary password and must set a password first; a
supervisor turns on two-factor sign-in and signs in with a code."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pyotp
from playwright.sync_api import expect

from crisisline.seed import MIDDLE_SCHOOL
from tests.browser.conftest import no_sideways_scroll, screenshot, sign_in

PHONE = (360, 740)


def set_own_password(page, password: str) -> None:
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#password h2")).to_have_text("设置您自己的密码")
    page.locator("#new_password").fill(password)
    page.locator("#new_password_again").fill(password)
    page.get_by_role("button", name="保存密码").click()
    expect(page.locator("p.flash.success")).to_contain_text("新密码已设置")


def test_the_admin_creates_a_reporter_who_signs_in_with_the_one_time_link(open_page):
    admin = open_page()
    sign_in(admin, "demo_admin")
    expect(admin.locator("h1")).to_have_text("用户")
    form = admin.locator("#create")
    form.locator("#username").fill("zhou.teacher")
    form.locator("#display_name").fill("周老师")
    form.locator("#role").select_option("reporter")
    form.locator("#organisation").select_option(MIDDLE_SCHOOL)
    form.locator("#identity").select_option("head_teacher")
    form.locator("#phone").fill("139 1234 5678")
    form.get_by_role("button", name="创建").click()
    # no unit: the form says why, in Chinese, keeps what was typed, and saves nothing
    expect(admin.locator("p.flash.error")).to_contain_text("班主任须指定学校的单位（班级）")
    expect(admin.locator("#create #username")).to_have_value("zhou.teacher")
    screenshot(admin, "staff-1-refused-without-unit")
    admin.locator("#create #unit").fill("初一/1班")
    admin.locator("#create").get_by_role("button", name="创建").click()
    expect(admin.locator("h1")).to_have_text("用户zhou.teacher已创建")
    link = admin.locator("#secret").inner_text()
    assert "/sign-in/" in link
    screenshot(admin, "staff-2-link-shown-once")

    newcomer = open_page(viewport=PHONE)
    newcomer.goto(link)
    expect(newcomer.locator("h1")).to_have_text("欢迎，周老师")
    screenshot(newcomer, "staff-3-link-360")
    newcomer.get_by_role("button", name="登录").click()
    newcomer.goto("/school")  # nothing opens before the password is set
    expect(newcomer.locator("p.flash.error")).to_contain_text("请先设置您自己的密码")
    no_sideways_scroll(newcomer)
    screenshot(newcomer, "staff-4-must-set-password-360")
    set_own_password(newcomer, "zhou-teacher-2026")
    expect(newcomer.locator("h1")).to_have_text("学校报告")
    newcomer.goto(link)
    expect(newcomer.locator("h1")).to_have_text("此登录链接无法使用")

    admin.goto("/admin/users?q=zhou")
    expect(admin.locator("table")).to_contain_text("班主任")
    expect(admin.locator("table")).to_contain_text("初一/1班")


def test_a_reset_volunteer_signs_in_with_the_temporary_password_on_a_phone(open_page):
    admin = open_page(viewport=PHONE)
    sign_in(admin, "demo_admin")
    expect(admin.locator("h1")).to_have_text("用户")
    no_sideways_scroll(admin)
    screenshot(admin, "staff-5-users-360")
    admin.get_by_role("link", name="demo_volunteer2").click()
    expect(admin.locator("h1")).to_contain_text("王浩")
    no_sideways_scroll(admin)
    screenshot(admin, "staff-6-user-360")
    admin.locator("input[name=credential][value=password]").check()
    admin.get_by_role("button", name="重置", exact=True).click()
    temporary = admin.locator("#secret").inner_text()
    screenshot(admin, "staff-7-temporary-password-360")

    volunteer = open_page(viewport=PHONE)
    sign_in(volunteer, "demo_volunteer2")  # the old password no longer works
    expect(volunteer.locator("p.flash.error")).to_contain_text("用户名或密码错误")
    sign_in(volunteer, "demo_volunteer2", temporary)
    set_own_password(volunteer, "wang-hao-volunteer")
    expect(volunteer.locator("h1")).to_have_text("志愿者工作台")


def test_a_supervisor_turns_on_two_factor_and_signs_in_with_a_code(open_page):
    supervisor = open_page(viewport=PHONE)
    sign_in(supervisor, "demo_supervisor")
    supervisor.get_by_role("link", name="我的账号").click()
    supervisor.get_by_role("button", name="设置两步验证").click()
    secret = supervisor.locator("#totp-secret").inner_text()
    assert supervisor.locator("#totp-uri").inner_text().startswith("otpauth://totp/")
    no_sideways_scroll(supervisor)
    screenshot(supervisor, "staff-8-two-factor-setup-360")
    totp = pyotp.TOTP(secret)
    supervisor.locator("#totp_code").fill(totp.now())
    supervisor.get_by_role("button", name="开启两步验证").click()
    expect(supervisor.locator("p.flash.success")).to_contain_text("两步验证已开启")
    supervisor.get_by_role("button", name="退出").click()

    sign_in(supervisor, "demo_supervisor")
    expect(supervisor.locator("h1")).to_have_text("请输入两步验证码")
    screenshot(supervisor, "staff-9-code-360")
    # the next step's code (the current one was used to turn it on)
    supervisor.locator("#totp_code").fill(totp.at(datetime.now() + timedelta(seconds=30)))
    supervisor.get_by_role("button", name="登录").click()
    expect(supervisor.locator("h1")).to_have_text("督导工作台")
    screenshot(supervisor, "staff-10-signed-in-with-code")
