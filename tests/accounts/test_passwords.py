"""Password rules, wherever a password is set: the command line, the admin page, the demo."""
from __future__ import annotations

import re

import pytest

from crisisline.accounts import passwords, services
from crisisline.accounts.models import User
from crisisline.errors import InvalidInput
from crisisline.seed import seed_demo
from tests.conftest import login
from tests.world import PASSWORD

WEAK = {
    "aaaaaaaaaa": "too short",
    "aaaaaaaaaaaaaaaa": "one character repeated",
    "1234567890": "too short",
    "12345678901234": "a run of digits",
    "abcabcabcabcabc": "a short pattern repeated",
    "qwertyuiopasdf": "a row of the keyboard",
    "1qaz2wsx3edc4rfv": "columns of the keyboard",
    "password123456": "a common password with digits added",
    "iloveyou2024!!": "a common password with digits added",
    "Princess123456": "a common password, capitalised",
    "new_volunteer": "the username",
    "NEW_VOLUNTEER-2024": "contains the username",
}


def create(password: str, username: str = "new_volunteer") -> User:
    return services.create_user(username, "admin", password)  # needs no organisation


@pytest.mark.parametrize("password", WEAK, ids=list(WEAK.values()))
def test_a_weak_password_is_refused_naming_the_field(ctx, password):
    with ctx(), pytest.raises(InvalidInput) as refused:
        create(password)
    assert list(refused.value.fields) == ["password"]
    with ctx():
        assert User.by_username("new_volunteer") is None


@pytest.mark.parametrize("password", [PASSWORD, "demo-password-1", "a-long-password",
                                      "Kunming 2026 hotline shifts"])
def test_a_long_uncommon_password_is_accepted(ctx, password):
    with ctx():
        assert create(password).username == "new_volunteer"


def test_the_refusals_say_what_is_wrong_in_chinese(app):
    with app.test_request_context("/"):
        problems = {password: str(passwords.problem(password, "new_volunteer"))
                    for password in ("aaaaaaaaaa", "123456789012345", "password123456",
                                     "xnew_volunteerx")}
    assert problems == {
        "aaaaaaaaaa": "密码至少需要 12 个字符",
        "123456789012345": "密码不能是重复的字符、连续的数字或字母、键盘上相邻的键",
        "password123456": "这个密码太常见，很容易被猜到，请换一个",
        "xnew_volunteerx": "密码不能包含用户名",
    }


def test_the_project_ships_a_list_of_a_few_thousand_common_passwords():
    common = passwords.common_passwords()
    assert len(common) >= 5000
    assert {"password", "123456", "qwerty", "iloveyou", "dragon"} <= common


def test_generated_passwords_pass_the_rules():
    for _ in range(200):
        generated = passwords.generate()
        assert passwords.problem(generated, "demo_volunteer") is None


def test_the_account_page_refuses_a_weak_password_naming_the_field(client, world, ctx):
    """Passwords are set on one's own account page (the admin page gives a one-time link or
    a temporary password instead)."""
    login(client, "t_volunteer", PASSWORD)
    page = client.get("/account").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD, "new_password": "1234567890",
        "new_password_again": "1234567890"}, follow_redirects=True)
    # the field, by its label (or its name until it has one), then the rule it broke
    assert re.search(r"新密码[:：] ?密码至少需要 12 个字符", response.get_data(as_text=True))
    assert login(app_client(client), "t_volunteer", PASSWORD).status_code == 302


def app_client(client):
    return client.application.test_client()


def test_the_demo_refuses_a_weak_password_for_its_users(ctx):
    with ctx() as db:
        with pytest.raises(InvalidInput) as refused:
            seed_demo("aaaaaaaaaaaa")
        db.rollback()
    assert list(refused.value.fields) == ["password"]


def test_resetting_an_existing_demo_users_password_follows_the_rules_too(ctx):
    with ctx() as db:
        seed_demo("a-first-demo-password")
        db.flush()
        with pytest.raises(InvalidInput):
            seed_demo("demo_volunteer_2026")  # contains a demo user's name
        db.rollback()


def test_the_command_line_refuses_a_weak_password(crisisline):
    crisisline("init")
    result = crisisline("--lang", "zh", "users", "create", "weak.one", "--role", "admin",
                        "--password", "aaaaaaaaaaaa", check=False)
    assert result.returncode != 0
    assert "密码：密码不能是重复的字符" in result.stderr
    result = crisisline("--lang", "en", "users", "create", "weak.one", "--role", "admin",
                        "--password", "aaaaaaaaaaaa", check=False)
    assert result.returncode != 0
    assert "Password: a password must not be repeated characters" in result.stderr


def test_the_command_line_generates_a_password_that_passes(crisisline):
    crisisline("init")
    result = crisisline("users", "create", "fresh.one", "--role", "admin")
    generated = result.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    assert passwords.problem(generated, "fresh.one") is None
