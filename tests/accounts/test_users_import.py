"""The users import's row schema: check() names every bad column of a row in Chinese and
save() creates or updates through the staff services; and `crisisline import users`."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from crisisline.accounts.imports import UserRows
from crisisline.accounts.models import SchoolUnit, UnitKind, User
from crisisline.audit.models import AuditEntry
from crisisline.imports import ImportRun, RowInvalid
from crisisline.messages import shown
from tests.conftest import cli_connection, login

ROW = {"username": "", "name": "", "role": "", "organisation": "", "unit": "",
       "identity": "", "phone": "", "languages": "", "team": ""}


def run():
    return ImportRun(actor=None)


def problems_of(error) -> dict:
    from flask import current_app
    found = error.problems
    with current_app.test_request_context(), force_locale("zh_Hans_CN"):
        return {column: shown(problem) for column, problem in found.items()}


@pytest.fixture
def school(ctx, world):
    with ctx() as db:
        grade = SchoolUnit(school_id=world.orgs["S"].id, kind=UnitKind.GRADE, name="初一")
        db.add(grade)
        db.flush()
        db.add(SchoolUnit(school_id=world.orgs["S"].id, kind=UnitKind.CLASS, name="1班",
                          parent_id=grade.id))
        db.commit()
    return world


def test_the_columns_are_the_issues(app):
    assert [(c.header, c.name) for c in UserRows.columns] == [
        ("用户名", "username"), ("姓名", "name"), ("角色", "role"), ("所属机构", "organisation"),
        ("单位", "unit"), ("报告人身份", "identity"), ("手机", "phone"), ("语言", "languages"),
        ("值班组", "team")]
    assert UserRows.kind == "users"


def test_a_bad_row_names_every_bad_column_in_chinese(app, ctx, school):
    row = {**ROW, "username": "bad name!", "name": "某\u202e人", "role": "学校报告人",
           "organisation": "T-S", "unit": "初一/9班", "identity": "班主任",
           "phone": "12345", "languages": "fr"}
    with ctx(), app.test_request_context(), pytest.raises(RowInvalid) as refused:
        UserRows().check(row, run())
    with app.app_context():
        problems = problems_of(refused.value)
    assert set(problems) == {"username", "name", "unit", "phone", "languages"}
    assert "没有单位“初一/9班”" in problems["unit"]
    assert "请填写个人电话" in problems["phone"]


@pytest.mark.parametrize("changes, column, words", [
    ({"role": "老师"}, "role", "未知的角色"),
    ({"role": "志愿者", "organisation": "T-S"}, "organisation", "必须属于一个热线中心"),
    ({"role": "医院联络员", "organisation": "T-A"}, "organisation", "必须属于一家医院"),
    ({"role": "学校报告人", "organisation": "T-S", "identity": "校长"}, "identity",
     "未知的报告人身份"),
    ({"role": "学校报告人", "organisation": "T-S", "identity": "宿舍心理信息员",
      "unit": "初一/1班"}, "unit", "宿舍心理信息员不能设在班级"),
    # (a team the centre lacks is created: test_a_duty_team_the_centre_lacks_is_created...)
    ({"role": "督导", "organisation": "NOPE"}, "organisation", "NOPE"),
])
def test_a_row_for_someone_who_could_not_do_their_job_is_refused(app, ctx, school, changes,
                                                                  column, words):
    row = {**ROW, "username": "new.one", "name": "新人", **changes}
    with ctx(), app.test_request_context(), pytest.raises(RowInvalid) as refused:
        UserRows().check(row, run())
    with app.app_context():
        assert words in problems_of(refused.value)[column]


def test_new_rows_are_created_with_a_temporary_password_and_a_same_row_changes_nothing(
        app, ctx, school):
    rows = [{**ROW, "username": "sun.teacher", "name": "孙老师", "role": "学校报告人",
             "organisation": "T-S", "unit": "初一 / 1班", "identity": "班主任",
             "phone": "139 0000 1234"},
            {**ROW, "username": "zhou.duty", "name": "周咨询", "role": "值班咨询师",
             "organisation": "T-A", "languages": "zh;en", "team": "on duty"}]
    importing = run()
    with ctx() as db, app.test_request_context():
        schema = UserRows()
        assert [schema.save(schema.check(row, importing), importing) for row in rows] == [
            "created", "created"]
        db.commit()
        teacher = User.by_username("sun.teacher")
        assert teacher.memberships[0].unit.path == "初一/1班"
        assert teacher.phone == "+8613900001234" and teacher.must_change_password
        assert User.by_username("zhou.duty").languages == "zh,en"
    assert [name for name, _ in importing.credentials] == ["sun.teacher", "zhou.duty"]
    secret = dict(importing.credentials)["sun.teacher"]
    assert login(app.test_client(), "sun.teacher", secret).status_code == 302

    with ctx() as db, app.test_request_context():
        entries = db.scalar(select(func.count(AuditEntry.seq)))
        again = run()
        assert [schema.save(schema.check(row, again), again) for row in rows] == [
            "unchanged", "unchanged"]
        changed = {**rows[1], "name": "周咨询师"}
        assert schema.save(schema.check(changed, again), again) == "updated"
        db.commit()
        assert again.credentials == []
        assert db.scalar(select(func.count(AuditEntry.seq))) == entries + 1


def test_two_rows_with_one_username_share_a_key(app):
    schema = UserRows()
    assert schema.key({"username": "Wang.Li"}) == schema.key({"username": "wang.li"})


# -- through the command line, as an administrator imports a file -------------------------

USERS_CSV = """用户名,姓名,角色,所属机构,单位,报告人身份,手机,语言,值班组
imp.vol,刘志愿,志愿者,{centre},,,13800001001,zh;en,
imp.coun,王咨询,值班咨询师,{centre},,,13800001003,zh,值班组
imp.head,李老师,学校报告人,{school},初一/1班,班主任,13800001006,,
imp.psy,钱老师,学校报告人,{school},,学校心理中心教师,,zh,
"""


def test_crisisline_import_users_writes_secrets_once_and_a_second_run_changes_nothing(
        crisisline, cli_database_url, tmp_path):
    import stat

    from argon2 import PasswordHasher
    from sqlalchemy import text

    from crisisline.seed import CENTRE, MIDDLE_SCHOOL
    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-2026")
    source = tmp_path / "users.csv"
    source.write_bytes(USERS_CSV.format(centre=CENTRE, school=MIDDLE_SCHOOL).encode("gbk"))
    secrets_file = tmp_path / "secrets.csv"
    first = crisisline("import", "users", str(source), "--credentials", str(secrets_file))
    assert "4 created" in first.stdout, first.stdout
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    written = dict(line.split(",", 1) for line in secrets_file.read_text().splitlines()
                   if line and not line.startswith(("username", "用户名")))
    assert set(written) >= {"imp.vol", "imp.coun", "imp.head", "imp.psy"}
    with cli_connection(cli_database_url) as connection:
        stored = dict(connection.execute(text(
            "SELECT username, password_hash FROM users WHERE username LIKE 'imp.%'")).all())
        unit = connection.execute(text(
            "SELECT s.name FROM users u JOIN memberships m ON m.user_id = u.id "
            "JOIN school_units s ON s.id = m.unit_id WHERE u.username = 'imp.head'")).scalar()
    assert unit == "1班"
    secret = written["imp.head"].strip()
    assert secret not in stored["imp.head"] and PasswordHasher().verify(stored["imp.head"],
                                                                        secret)
    again = crisisline("import", "users", str(source), "--credentials",
                       str(tmp_path / "again.csv"))
    assert "0 created, 0 updated, 4 unchanged" in again.stdout, again.stdout
    assert not (tmp_path / "again.csv").exists()


def test_a_file_with_a_bad_user_row_imports_nothing_and_names_the_row(crisisline,
                                                                      cli_database_url,
                                                                      tmp_path):
    from sqlalchemy import text

    from crisisline.seed import CENTRE, MIDDLE_SCHOOL
    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-2026")
    bad = USERS_CSV.format(centre=CENTRE, school=MIDDLE_SCHOOL) + \
        f"imp.lost,无中心,志愿者,{MIDDLE_SCHOOL},,,,zh,\n"
    source = tmp_path / "users.csv"
    source.write_text(bad, encoding="utf-8-sig")
    result = crisisline("--lang", "zh", "import", "users", str(source), "--credentials",
                        str(tmp_path / "s.csv"), check=False)
    assert result.returncode == 1
    assert "第6行 所属机构" in result.stderr and "必须属于一个热线中心" in result.stderr
    with cli_connection(cli_database_url) as connection:
        assert connection.execute(text(
            "SELECT count(*) FROM users WHERE username LIKE 'imp.%'")).scalar() == 0


def test_a_duty_team_the_centre_lacks_is_created_once_for_its_rows(ctx, world, tmp_path):
    from crisisline.accounts.models import Team, TeamMember
    from crisisline.imports import import_file
    centre = world.orgs["A"]
    path = tmp_path / "staff.csv"
    path.write_text("用户名,姓名,角色,所属机构,值班组\n"
                    f"night.one,夜班一,值班咨询师,{centre.code},夜班组\n"
                    f"night.two,夜班二,值班咨询师,{centre.code},夜班组\n", encoding="utf-8")
    with ctx() as db:
        report = import_file("users", path)
        db.commit()
        assert report.ok and report.counts["created"] == 2
        [team] = db.scalars(select(Team).where(Team.centre_id == centre.id,
                                               Team.name == "夜班组")).all()
        members = db.scalars(select(User.username).join(TeamMember, TeamMember.user_id ==
                                                        User.id).where(
            TeamMember.team_id == team.id)).all()
        assert sorted(members) == ["night.one", "night.two"]
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "team.create")) == 1


def test_a_team_named_on_a_row_that_cannot_have_one_is_still_refused(ctx, world, tmp_path):
    from crisisline.imports import import_file
    path = tmp_path / "staff.csv"
    path.write_text("用户名,姓名,角色,所属机构,值班组\n"
                    f"doc.one,医生一,医院联络员,{world.orgs['H1'].code},夜班组\n",
                    encoding="utf-8")
    with ctx():
        report = import_file("users", path)
        assert not report.ok and report.problems[0].column == "值班组"
