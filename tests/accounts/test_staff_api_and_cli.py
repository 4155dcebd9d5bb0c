"""The staff API (administrators) and `crisisline users ...`: the same rules as the pages."""
from __future__ import annotations

import re

from sqlalchemy import text

from crisisline.accounts.models import User
from crisisline.seed import CENTRE, MIDDLE_SCHOOL
from tests.conftest import cli_connection, login


def test_an_admin_creates_and_changes_a_user_through_the_api(client, ctx, api, world):
    admin = api("admin")
    refused = admin.post("/api/users", json={"username": "api.vol", "display_name": "接口志愿者",
                                             "role": "volunteer"})
    assert refused.status_code == 422
    assert "必须属于一个热线中心" in refused.json["fields"]["organisation"]
    created = admin.post("/api/users", json={
        "username": "api.vol", "display_name": "接口志愿者", "role": "volunteer",
        "organisation": "T-A", "phone": "13700001111", "credential": "password"})
    assert created.status_code == 201
    body = created.json
    assert body["user"]["phone"] == "+8613700001111" and body["user"]["organisation"] == "T-A"
    assert body["user"]["must_change_password"] is True
    assert login(client.application.test_client(), "api.vol",
                 body["temporary_password"]).status_code == 302
    user_id = body["user"]["id"]
    changed = client.open(f"/api/users/{user_id}", method="PATCH", headers=admin.headers,
                          json={"languages": ["zh", "en"], "team": "on duty"})
    assert changed.status_code == 200 and changed.json["languages"] == ["zh", "en"]
    assert changed.json["team"] == "on duty" and changed.json["organisation"] == "T-A"
    moved = client.open(f"/api/users/{user_id}", method="PATCH", headers=admin.headers,
                        json={"role": "hospital_liaison"})
    assert moved.status_code == 422 and "organisation" in moved.json["fields"]
    reset = admin.post(f"/api/users/{user_id}/reset", json={"credential": "link"})
    assert reset.status_code == 200 and "/sign-in/" in reset.json["sign_in_link"]
    assert admin.post(f"/api/users/{user_id}/disable").json["active"] is False
    assert admin.post(f"/api/users/{user_id}/enable").json["active"] is True
    assert any(user["username"] == "api.vol" for user in admin.get("/api/users").json)


def test_only_admins_use_the_staff_api(api, world):
    supervisor = api("supervisor")
    assert supervisor.get("/api/users").status_code == 403
    assert supervisor.post("/api/users", json={"username": "x.y", "display_name": "某",
                                               "role": "admin"}).status_code == 403
    assert api("admin").get("/api/users/999999").status_code == 404


# -- the command line ----------------------------------------------------------------------

def rows(database_url: str, sql: str):
    with cli_connection(database_url) as connection:
        return connection.execute(text(sql)).all()


def test_the_command_line_creates_a_reporter_with_unit_identity_and_phone(
        crisisline, cli_database_url):
    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-2026")
    result = crisisline("users", "create", "zhao.committee", "--role", "reporter",
                        "--org", MIDDLE_SCHOOL, "--unit", "初二/2班", "--identity",
                        "class_committee", "--phone", "13811112222", "--display-name", "赵同学")
    assert result.stdout.splitlines()[0] == "created zhao.committee (reporter)"
    assert result.stdout.splitlines()[1].startswith("password: ")
    stored = rows(cli_database_url, """
        SELECT u.reporter_identity, u.phone, u.must_change_password, o.code, s.name
        FROM users u JOIN memberships m ON m.user_id = u.id
        JOIN organisations o ON o.id = m.organisation_id
        JOIN school_units s ON s.id = m.unit_id WHERE u.username = 'zhao.committee'""")
    assert [tuple(row) for row in stored] == [
        ("class_committee", "+8613811112222", True, MIDDLE_SCHOOL, "2班")]


def test_the_command_line_refuses_someone_who_could_not_do_their_job(crisisline,
                                                                       cli_database_url):
    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-2026")
    before = rows(cli_database_url, "SELECT count(*) FROM users")[0][0]
    for args, words in [
        (("--role", "volunteer"), "must belong to a hotline centre"),
        (("--role", "reporter", "--org", MIDDLE_SCHOOL, "--identity", "head_teacher",
          "--unit", "初二"), "cannot belong to a Grade"),
        (("--role", "hospital_liaison", "--org", CENTRE), "must belong to a hospital"),
    ]:
        result = crisisline("users", "create", "misfit", *args, check=False)
        assert result.returncode == 1 and words in result.stderr, result.stderr
    chinese = crisisline("--lang", "zh", "users", "create", "misfit", "--role", "volunteer",
                         check=False)
    assert "热线志愿者必须属于一个热线中心" in chinese.stderr
    assert rows(cli_database_url, "SELECT count(*) FROM users")[0][0] == before


def test_the_command_line_resets_with_a_link_and_re_enables(crisisline, cli_database_url):
    crisisline("init")
    crisisline("users", "create", "boss", "--role", "admin", "--password", "a-good-passw0rd")
    link = crisisline("users", "reset", "boss", "--link").stdout.splitlines()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:5000/sign-in/[A-Za-z0-9_-]{40,}", link)
    crisisline("users", "disable", "boss")
    assert "enabled boss" in crisisline("users", "enable", "boss").stdout
    again = crisisline("users", "enable", "boss", check=False)
    assert again.returncode == 1 and "not disabled" in again.stderr


def test_the_demo_reporter_is_a_head_teacher_of_a_class(ctx):
    from crisisline.seed import seed_demo
    with ctx() as db:
        seed_demo("demo-password-2026")
        reporter = User.by_username("demo_reporter")
        assert reporter.reporter_identity.value == "head_teacher"
        assert reporter.memberships[0].unit.path == "初一/1班"
        db.rollback()
