"""Two-factor sign-in (TOTP) for supervisors and administrators: set up with a code, asked
for at every sign-in, wrong codes slowed down like wrong passwords; required for them in
production (CRISISLINE_REQUIRE_2FA)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from crisisline.accounts.models import User
from crisisline.audit.models import AuditEntry
from crisisline.config import ConfigError, load_settings
from tests.conftest import login
from tests.world import PASSWORD

GOOD = {"CRISISLINE_SECRET_KEY": "s" * 32, "CRISISLINE_AUDIT_KEY": "a" * 32}


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def turn_on(client) -> pyotp.TOTP:
    """Set up two-factor sign-in from the account page, as a person would."""
    page = client.get("/account").get_data(as_text=True)
    client.post("/account/two-factor/start", data={"csrf_token": csrf(page)})
    page = client.get("/account").get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    uri = re.search(r'<code id="totp-uri">([^<]+)</code>', page).group(1)
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    totp = pyotp.TOTP(secret)
    response = client.post("/account/two-factor/confirm", data={
        "csrf_token": csrf(page), "totp_code": totp.now()})
    assert response.status_code == 302, response.get_data(as_text=True)
    return totp


def code_step(client, code: str):
    page = client.get("/login").get_data(as_text=True)  # (the session's CSRF token)
    return client.post("/login/code", data={"csrf_token": csrf(page), "totp_code": code})


@pytest.fixture
def required(app, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_2FA", True)


def test_a_supervisor_turns_it_on_and_then_signs_in_with_a_code(app, ctx, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    totp = turn_on(supervisor)
    with ctx():
        assert User.by_username("t_supervisor").totp_enabled_at is not None

    browser = app.test_client()
    first = login(browser, "t_supervisor", PASSWORD)
    assert first.status_code == 302 and first.headers["Location"] == "/login/code"
    assert browser.get("/console/supervisor").status_code == 302  # not signed in yet
    wrong = code_step(browser, "000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 401 and "验证码不正确" in wrong.get_data(as_text=True)
    previous = totp.at(datetime.now() - timedelta(seconds=30))  # one step late still counts
    assert code_step(browser, previous).status_code == 302
    assert browser.get("/console/supervisor").status_code == 200
    with ctx() as db:
        actions = db.scalars(select(AuditEntry.action)).all()
        login_entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login")
                                 .order_by(AuditEntry.seq.desc())).first()
    assert {"user.two_factor_start", "user.two_factor_enable",
            "auth.second_factor_failed"} <= set(actions)
    assert login_entry.changes["via"] == {"new": "two_factor"}


def test_a_code_is_accepted_once(app, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    totp = turn_on(supervisor)
    code = totp.at(datetime.now() + timedelta(seconds=30))  # not the one that confirmed
    one, other = app.test_client(), app.test_client()
    login(one, "t_supervisor", PASSWORD)
    login(other, "t_supervisor", PASSWORD)
    assert code_step(one, code).status_code == 302
    assert code_step(other, code).status_code == 401  # someone who saw it over a shoulder


def test_wrong_codes_count_towards_the_sign_in_waits(app, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    totp = turn_on(supervisor)
    browser = app.test_client()
    login(browser, "t_supervisor", PASSWORD)
    wrong = "123456" if totp.now() != "123456" else "654321"
    statuses = [code_step(browser, wrong).status_code for _ in range(5)]
    assert statuses == [401] * 5
    slowed = code_step(browser, totp.now())
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) >= 1


def test_the_second_step_expires(app, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    totp = turn_on(supervisor)
    browser = app.test_client()
    login(browser, "t_supervisor", PASSWORD)
    with browser.session_transaction() as session:
        session["second_factor"]["at"] -= 301
        session.modified = True
    response = code_step(browser, totp.now())
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_a_volunteer_cannot_turn_it_on(app, world):
    volunteer = app.test_client()
    login(volunteer, "t_volunteer", PASSWORD)
    page = volunteer.get("/account").get_data(as_text=True)
    assert "两步验证" not in page
    assert volunteer.post("/account/two-factor/start",
                          data={"csrf_token": csrf(page)}).status_code == 403


def test_without_the_requirement_it_can_be_turned_off_with_a_code(app, ctx, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    totp = turn_on(supervisor)
    page = supervisor.get("/account").get_data(as_text=True)
    later = totp.at(datetime.now() + timedelta(seconds=30))
    assert supervisor.post("/account/two-factor/off", data={
        "csrf_token": csrf(page), "totp_code": later}).status_code == 302
    with ctx():
        assert User.by_username("t_supervisor").totp_secret is None


def test_where_required_a_supervisor_must_set_it_up_before_anything_else(
        app, ctx, world, api, required):
    supervisor = app.test_client()
    assert login(supervisor, "t_supervisor", PASSWORD).status_code == 302
    blocked = supervisor.get("/console/supervisor")
    assert blocked.status_code == 302 and blocked.headers["Location"] == "/account"
    page = supervisor.get("/account").get_data(as_text=True)
    assert "您的角色必须使用两步验证" in page
    assert api("supervisor").get("/api/cases").status_code == 403
    assert api("admin").get("/api/users").status_code == 403
    assert api("volunteer").get("/api/cases").status_code == 200  # others are not held
    totp = turn_on(supervisor)
    assert supervisor.get("/console/supervisor").status_code == 200
    # and it cannot be turned off while required
    page = supervisor.get("/account").get_data(as_text=True)
    assert "two-factor/off" not in page
    assert supervisor.post("/account/two-factor/off", data={
        "csrf_token": csrf(page), "totp_code": totp.now()}).status_code == 403


def test_an_admin_reset_can_remove_a_lost_phones_two_factor(app, ctx, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    turn_on(supervisor)
    admin = app.test_client()
    login(admin, "t_admin", PASSWORD)
    user_id = world.users["supervisor"].id
    page = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert "turn_off_two_factor" in page
    response = admin.post(f"/admin/users/{user_id}/reset", data={
        "csrf_token": csrf(page), "credential": "password", "turn_off_two_factor": "y"})
    temporary = re.search(r'<code id="secret">([^<]+)</code>', response.get_data(as_text=True)
                          ).group(1)
    browser = app.test_client()
    assert login(browser, "t_supervisor", temporary).headers["Location"] == "/"
    with ctx() as db:
        assert db.scalar(select(func.count(AuditEntry.seq)).where(
            AuditEntry.action == "user.two_factor_disable")) == 1


def test_a_sign_in_link_still_asks_for_the_code(app, ctx, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    totp = turn_on(supervisor)
    admin = app.test_client()
    login(admin, "t_admin", PASSWORD)
    user_id = world.users["supervisor"].id
    page = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    response = admin.post(f"/admin/users/{user_id}/reset", data={
        "csrf_token": csrf(page), "credential": "link"})
    token = re.search(r"/sign-in/([A-Za-z0-9_-]+)", response.get_data(as_text=True)).group(1)
    browser = app.test_client()
    page = browser.get(f"/sign-in/{token}").get_data(as_text=True)
    used = browser.post(f"/sign-in/{token}", data={"csrf_token": csrf(page)})
    assert used.headers["Location"] == "/login/code"
    assert browser.get("/account").status_code == 302  # not signed in without the code
    later = totp.at(datetime.now() + timedelta(seconds=30))
    assert code_step(browser, later).status_code == 302
    assert browser.get("/account").status_code == 200


# -- the setting -------------------------------------------------------------------------

@pytest.mark.parametrize("environ, expected", [
    ({}, False), ({"CRISISLINE_ENV": "production", **GOOD}, True),
    ({"CRISISLINE_ENV": "production", "CRISISLINE_REQUIRE_2FA": "off", **GOOD}, False),
    ({"CRISISLINE_REQUIRE_2FA": "yes"}, True), ({"CRISISLINE_REQUIRE_2FA": "0"}, False),
])
def test_two_factor_is_required_by_default_in_production_only(tmp_path, environ, expected):
    assert load_settings(environ, instance_path=tmp_path).require_2fa is expected


def test_a_malformed_require_2fa_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="CRISISLINE_REQUIRE_2FA"):
        load_settings({"CRISISLINE_REQUIRE_2FA": "sometimes"}, instance_path=tmp_path)
