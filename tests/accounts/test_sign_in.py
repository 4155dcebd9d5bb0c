"""Signing in and out through the browser, and what a disabled account can still do."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crisisline.accounts import services
from crisisline.accounts.models import User
from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD

ROLE_PAGES = {
    "volunteer": ("/console/volunteer", "志愿者工作台"),
    "counselor": ("/console/counselor", "值班咨询师工作台"),
    "supervisor": ("/console/supervisor", "督导工作台"),
    "liaison": ("/portal/hospital", "医院联络员门户"),
    "reporter": ("/school", "学校报告"),
    "admin": ("/admin/users", "用户"),
}


def audit_actions(ctx) -> list[str]:
    with ctx() as db:
        return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


@pytest.mark.parametrize("user", ROLE_PAGES)
def test_each_role_signs_in_to_its_own_page_in_chinese(client, world, user):
    response = login(client, f"t_{user}", PASSWORD)
    assert response.status_code == 302
    page = client.get("/", follow_redirects=True)
    path, heading = ROLE_PAGES[user]
    assert page.request.path == path
    assert heading in page.get_data(as_text=True)


def test_a_role_cannot_open_another_roles_page(client, world):
    login(client, "t_volunteer", PASSWORD)
    assert client.get("/console/supervisor").status_code == 403
    assert client.get("/admin/users").status_code == 403


def test_wrong_password_and_unknown_user_get_the_same_generic_error(client, world, ctx):
    wrong = login(client, "t_volunteer", "not-the-password")
    unknown = login(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "用户名或密码错误" in response.get_data(as_text=True)
    assert audit_actions(ctx).count("auth.login_failed") == 2


def test_sign_in_is_refused_after_five_attempts_a_minute_for_one_account(client, world):
    statuses = [login(client, "t_volunteer", "guess-%d" % n).status_code for n in range(5)]
    assert statuses == [401] * 5
    assert login(client, "t_volunteer", PASSWORD).status_code == 429
    # another account from the same office address is not locked out
    assert login(client, "t_counselor", PASSWORD).status_code == 302


def test_sign_in_without_the_csrf_token_is_refused(client, world):
    response = client.post("/login", data={"username": "t_volunteer", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/", follow_redirects=False).status_code == 302  # still signed out


def test_sign_out_needs_a_post_with_csrf_token(client, world):
    login(client, "t_volunteer", PASSWORD)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/console/volunteer").status_code == 200


def test_disabling_a_user_ends_their_session_at_once(client, world, ctx):
    login(client, "t_volunteer", PASSWORD)
    assert client.get("/console/volunteer").status_code == 200
    with ctx() as db:
        services.disable_user("t_volunteer")
        db.commit()
    response = client.get("/console/volunteer")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert login(client, "t_volunteer", PASSWORD).status_code == 401


def test_login_does_not_redirect_to_another_site(client, world):
    page = client.get("/login?next=https://evil.example/")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]\
        .split('"')[0]
    response = client.post("/login?next=https://evil.example/",
                           data={"csrf_token": token, "username": "t_volunteer",
                                 "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_an_admin_creates_and_disables_a_user_through_the_page(client, world, ctx):
    login(client, "t_admin", PASSWORD)
    page = client.get("/admin/users").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/admin/users", data={
        "csrf_token": token, "username": "new_volunteer", "display_name": "新志愿者",
        "role": "volunteer", "organisation": "T-A", "languages": "zh",
        "credential": "password"})
    assert response.status_code == 201  # with the temporary password, shown once
    with ctx():
        created = User.by_username("new_volunteer")
        assert created.role.value == "volunteer" and created.centre_ids
    response = client.post(f"/admin/users/{created.id}/disable", data={"csrf_token": token})
    assert response.status_code == 302
    with ctx():
        assert User.by_username("new_volunteer").disabled_at is not None
    assert {"user.create", "user.disable"} <= set(audit_actions(ctx))


def test_admin_form_with_an_unknown_organisation_creates_nothing(client, world, ctx):
    login(client, "t_admin", PASSWORD)
    page = client.get("/admin/users").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/admin/users", data={
        "csrf_token": token, "username": "ghost", "display_name": "某人", "role": "volunteer",
        "organisation": "NO-SUCH-ORG", "languages": "zh", "credential": "link"})
    assert "NO-SUCH-ORG" in response.get_data(as_text=True)
    with ctx():
        assert User.by_username("ghost") is None
