"""The staff pages as an administrator uses them: nobody is created or edited into a state
in which they cannot do their job; a new or reset user gets a one-time link or a temporary
password, shown once, and sets their own password before anything else."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, select

from crisisline.accounts.models import (Membership, SchoolUnit, SignInLink, Team, TeamMember,
                                        UnitKind, User, UserSession)
from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD

LINK = re.compile(r"https?://[^<\s\"]+/sign-in/([A-Za-z0-9_-]+)")
SECRET = re.compile(r'<code id="secret">([^<]+)</code>')


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


@pytest.fixture
def units(ctx, world):
    """School S: 计算机学院 (a department) / 2023级1班 (a class); 1号楼 (a building)."""
    with ctx() as db:
        school = world.orgs["S"]
        department = SchoolUnit(school_id=school.id, kind=UnitKind.DEPARTMENT, name="计算机学院")
        db.add(department)
        db.flush()
        db.add_all([SchoolUnit(school_id=school.id, kind=UnitKind.CLASS, name="2023级1班",
                               parent_id=department.id),
                    SchoolUnit(school_id=school.id, kind=UnitKind.BUILDING, name="1号楼")])
        db.commit()
    return world


@pytest.fixture
def admin(app, world):
    browser = app.test_client()
    assert login(browser, "t_admin", PASSWORD).status_code == 302
    return browser


def create(admin, **fields):
    page = admin.get("/admin/users").get_data(as_text=True)
    data = {"csrf_token": csrf(page), "display_name": "新同事", "languages": "zh",
            "credential": "link", **fields}
    return admin.post("/admin/users", data=data)


def counts(ctx) -> tuple[int, int, int]:
    with ctx() as db:
        return (db.scalar(select(func.count(User.id))),
                db.scalar(select(func.count(Membership.id))),
                db.scalar(select(func.count(AuditEntry.seq))))


def text_of(response) -> str:
    return response.get_data(as_text=True)


# -- nobody who cannot do their job --------------------------------------------------------

@pytest.mark.parametrize("fields, field, words", [
    ({"role": "volunteer"}, "organisation", "热线志愿者必须属于一个热线中心"),
    ({"role": "counselor", "organisation": "T-S"}, "organisation",
     "值班心理咨询师必须属于一个热线中心"),
    ({"role": "supervisor", "organisation": "T-H1"}, "organisation", "必须属于一个热线中心"),
    ({"role": "hospital_liaison", "organisation": "T-A"}, "organisation",
     "医院联络员必须属于一家医院"),
    ({"role": "reporter", "organisation": "T-A", "identity": "head_teacher"}, "organisation",
     "学校信息员必须属于一所学校"),
    ({"role": "reporter", "organisation": "T-S"}, "identity", "请选择报告人"),
    ({"role": "reporter", "organisation": "T-S", "identity": "head_teacher"}, "unit",
     "班主任须指定学校的单位（班级）"),
    ({"role": "reporter", "organisation": "T-S", "identity": "head_teacher",
      "unit": "计算机学院"}, "unit", "班主任不能设在院系，请选择：班级"),
    ({"role": "reporter", "organisation": "T-S", "identity": "dormitory_informant",
      "unit": "计算机学院/2023级1班"}, "unit", "宿舍心理信息员不能设在班级"),
    ({"role": "reporter", "organisation": "T-S", "identity": "class_committee",
      "unit": "计算机学院/2024级9班"}, "unit", "没有单位“计算机学院/2024级9班”"),
    ({"role": "reporter", "organisation": "T-S", "identity": "psychology_centre",
      "unit": "计算机学院"}, "unit", "学校心理中心教师属于全校：单位请留空"),
    ({"role": "volunteer", "organisation": "T-A", "identity": "head_teacher"}, "identity",
     "只有学校报告人才有报告人身份"),
    ({"role": "volunteer", "organisation": "T-A", "team": "no such team"}, "team",
     "没有值班组“no such team”"),
    ({"role": "liaison", "organisation": "T-H1"}, "role", "未知"),
    ({"role": "volunteer", "organisation": "T-A", "phone": "12345"}, "phone",
     "请填写个人电话"),
    ({"role": "volunteer", "organisation": "T-A", "phone": "1380013800"}, "phone",
     "不是有效的电话号码"),
    ({"role": "volunteer", "organisation": "T-A", "languages": "fr"}, "languages",
     "未知的语言"),
    ({"role": "volunteer", "organisation": "T-A", "display_name": ""}, "display_name",
     "请填写姓名"),
])
def test_someone_who_could_not_do_their_job_is_not_created_and_the_form_says_why(
        admin, ctx, units, fields, field, words):
    before = counts(ctx)
    response = create(admin, username="newcomer", **fields)
    assert response.status_code == 422
    page = text_of(response)
    assert words in page, page[page.find("flash error"):][:400]
    assert 'value="newcomer"' in page  # what was typed is kept
    assert counts(ctx) == before


def test_a_volunteer_without_a_centre_is_never_created_so_never_meets_an_english_403(
        admin, ctx, units):
    assert create(admin, username="lonely", role="volunteer").status_code == 422
    with ctx():
        assert User.by_username("lonely") is None


def test_a_reporter_is_created_with_school_unit_identity_phone_and_languages(
        admin, ctx, units):
    response = create(admin, username="wang.teacher", display_name="王老师", role="reporter",
                      organisation="T-S", unit="计算机学院 / 2023级1班",
                      identity="head_teacher", phone="138 1234 5678",
                      languages=["zh", "en"])
    assert response.status_code == 201
    with ctx():
        user = User.by_username("wang.teacher")
        assert (user.display_name, user.role.value, user.reporter_identity.value) == (
            "王老师", "reporter", "head_teacher")
        assert user.phone == "+8613812345678" and user.languages == "zh,en"
        assert [(m.organisation.code, m.unit.path) for m in user.memberships] == [
            ("T-S", "计算机学院/2023级1班")]


def test_a_psychology_centre_teacher_belongs_to_the_whole_school(admin, ctx, units):
    response = create(admin, username="psy.teacher", role="reporter", organisation="T-S",
                      identity="psychology_centre")
    assert response.status_code == 201
    with ctx():
        assert [m.unit for m in User.by_username("psy.teacher").memberships] == [None]


def test_a_counselor_is_put_on_a_team_of_their_centre(admin, ctx, units):
    assert create(admin, username="duty.one", role="counselor", organisation="T-A",
                  team="on duty", phone="+44 20 7946 0958").status_code == 201
    with ctx() as db:
        user = User.by_username("duty.one")
        assert user.phone == "+442079460958"
        assert db.scalar(select(Team.name).join(TeamMember).where(
            TeamMember.user_id == user.id)) == "on duty"
    # another centre's team by that name is not theirs
    assert create(admin, username="duty.two", role="counselor", organisation="T-B",
                  team="on duty").status_code == 422


# -- first sign-in: a one-time link or a temporary password ---------------------------------

def test_a_one_time_link_signs_in_once_and_the_new_user_must_set_a_password_first(
        app, admin, ctx, units):
    page = text_of(create(admin, username="link.user", role="volunteer", organisation="T-A"))
    token = LINK.search(page).group(1)
    with ctx() as db:
        user = User.by_username("link.user")
        stored = db.scalars(select(SignInLink).where(SignInLink.user_id == user.id)).one()
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(vars(stored)) and user.must_change_password
        assert (stored.expires_at - stored.created_at).total_seconds() == 24 * 3600
    assert "一次性" in page and "只显示这一次" in page
    assert token not in text_of(admin.get("/admin/users"))  # shown once, never again

    newcomer = app.test_client()
    preview = newcomer.get(f"/sign-in/{token}")  # a chat app's preview must not use it up
    assert preview.status_code == 200 and "欢迎" in text_of(preview)
    response = newcomer.post(f"/sign-in/{token}", data={"csrf_token": csrf(text_of(preview))})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    # nothing else opens before the password is set
    refused = newcomer.get("/console/volunteer")
    assert refused.status_code == 302 and refused.headers["Location"] == "/account"
    account = text_of(newcomer.get("/account"))
    assert "设置您自己的密码" in account and "current_password" not in account
    done = newcomer.post("/account/password", data={
        "csrf_token": csrf(account), "new_password": "my-own-pass-2026",
        "new_password_again": "my-own-pass-2026"})
    assert done.status_code == 302
    assert newcomer.get("/console/volunteer").status_code == 200
    # the link works once
    again = app.test_client()
    used = again.get(f"/sign-in/{token}")
    assert used.status_code == 404 and "此登录链接无法使用" in text_of(used)
    token_of_page = csrf(text_of(again.get("/login")))
    assert again.post(f"/sign-in/{token}", data={"csrf_token": token_of_page}
                      ).status_code == 404
    assert login(app.test_client(), "link.user", "my-own-pass-2026").status_code == 302
    with ctx() as db:
        actions = db.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert {"user.create", "user.sign_in_link", "auth.sign_in_link_used", "auth.login",
            "user.password_change", "auth.sign_in_link_refused"} <= set(actions)


def test_an_expired_link_does_not_sign_in(app, admin, ctx, units):
    token = LINK.search(text_of(create(admin, username="late.user", role="volunteer",
                                       organisation="T-A"))).group(1)
    with ctx() as db:
        link = db.scalars(select(SignInLink)).one()
        link.expires_at = link.created_at  # 24 hours later
        db.commit()
    assert app.test_client().get(f"/sign-in/{token}").status_code == 404


def test_a_temporary_password_must_be_replaced_by_ones_own(app, admin, ctx, units):
    page = text_of(create(admin, username="temp.user", role="counselor", organisation="T-A",
                          credential="password"))
    temporary = SECRET.search(page).group(1)
    with ctx():
        assert temporary not in User.by_username("temp.user").password_hash
    newcomer = app.test_client()
    assert login(newcomer, "temp.user", temporary).status_code == 302
    assert newcomer.get("/console/counselor").headers["Location"] == "/account"
    assert newcomer.get("/api/cases").status_code == 403  # the API waits too
    account = text_of(newcomer.get("/account"))
    same = newcomer.post("/account/password", data={
        "csrf_token": csrf(account), "new_password": temporary,
        "new_password_again": temporary})
    assert same.status_code == 422 and "不要沿用临时密码" in text_of(same)
    differ = newcomer.post("/account/password", data={
        "csrf_token": csrf(account), "new_password": "counsel-2026-ok",
        "new_password_again": "counsel-2026-OK"})
    assert differ.status_code == 422 and "两次输入的新密码不一致" in text_of(differ)
    assert newcomer.post("/account/password", data={
        "csrf_token": csrf(account), "new_password": "counsel-2026-ok",
        "new_password_again": "counsel-2026-ok"}).status_code == 302
    assert newcomer.get("/console/counselor").status_code == 200


def test_resetting_ends_the_old_password_and_sessions_and_shows_a_new_one_once(
        app, admin, ctx, world):
    victim = app.test_client()
    assert login(victim, "t_volunteer", PASSWORD).status_code == 302
    user_id = world.users["volunteer"].id
    page = text_of(admin.get(f"/admin/users/{user_id}"))
    response = admin.post(f"/admin/users/{user_id}/reset", data={
        "csrf_token": csrf(page), "credential": "password"})
    assert response.status_code == 200
    temporary = SECRET.search(text_of(response)).group(1)
    assert victim.get("/console/volunteer").status_code == 302  # signed out
    assert login(app.test_client(), "t_volunteer", PASSWORD).status_code == 401
    assert login(app.test_client(), "t_volunteer", temporary).status_code == 302
    with ctx() as db:
        assert db.scalar(select(func.count(UserSession.id)).where(
            UserSession.user_id == user_id, UserSession.end_reason == "reset")) == 1
        actions = set(db.scalars(select(AuditEntry.action)))
    assert {"user.temporary_password", "user.sessions_end"} <= actions


def test_a_reset_link_replaces_the_earlier_one(app, admin, ctx, world):
    user_id = world.users["volunteer"].id
    tokens = []
    for _ in range(2):
        page = text_of(admin.get(f"/admin/users/{user_id}"))
        response = admin.post(f"/admin/users/{user_id}/reset", data={
            "csrf_token": csrf(page), "credential": "link"})
        tokens.append(LINK.search(text_of(response)).group(1))
    assert app.test_client().get(f"/sign-in/{tokens[0]}").status_code == 404
    assert app.test_client().get(f"/sign-in/{tokens[1]}").status_code == 200


# -- edit, disable, re-enable -------------------------------------------------------------

def edit(admin, user_id: int, **changes):
    """Post the edit form with ``changes`` (every field the test cares about)."""
    page = text_of(admin.get(f"/admin/users/{user_id}"))
    return admin.post(f"/admin/users/{user_id}",
                      data={"csrf_token": csrf(page), "languages": "zh", **changes})


def test_an_edit_that_would_leave_someone_unable_to_work_changes_nothing(admin, ctx, world):
    user_id = world.users["counselor"].id
    response = edit(admin, user_id, display_name="咨询师", role="counselor",
                    organisation="T-A", team="on duty")
    assert response.status_code == 302
    with ctx() as db:
        before = db.scalar(select(func.count(AuditEntry.seq)))
    refused = edit(admin, user_id, display_name="咨询师", role="hospital_liaison",
                   organisation="T-A", team="")
    assert refused.status_code == 422 and "医院联络员必须属于一家医院" in text_of(refused)
    with ctx() as db:
        user = db.get(User, user_id)
        assert user.role.value == "counselor" and user.centre_ids
        assert db.scalar(select(func.count(AuditEntry.seq))) == before


def test_an_edit_is_audited_field_by_field_and_an_unchanged_one_records_nothing(
        admin, ctx, world):
    user_id = world.users["volunteer"].id
    changed = edit(admin, user_id, display_name="李志愿", role="volunteer",
                   organisation="T-A", phone="13900001111", languages=["zh", "en"],
                   team="on duty")
    assert changed.status_code == 302
    assert "已更新" in text_of(admin.get(changed.headers["Location"]))
    with ctx() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "user.update")).one()
        user = db.get(User, user_id)
        assert user.phone == "+8613900001111" and user.languages == "zh,en"
    assert entry.changes["display_name"] == {"old": "volunteer", "new": "李志愿"}
    assert entry.changes["phone"] == {"changed": True}
    assert entry.changes["team"] == {"old": None, "new": "on duty"}
    again = edit(admin, user_id, display_name="李志愿", role="volunteer", organisation="T-A",
                 phone="+8613900001111", languages=["zh", "en"], team="on duty")
    assert "没有任何更改" in text_of(admin.get(again.headers["Location"]))
    with ctx() as db:
        assert db.scalar(select(func.count(AuditEntry.seq)).where(
            AuditEntry.action == "user.update")) == 1


def test_a_counselor_moved_to_a_hospital_leaves_the_centre_and_its_team(admin, ctx, world):
    user_id = world.users["counselor"].id
    assert edit(admin, user_id, display_name="改任联络员", role="hospital_liaison",
                organisation="T-H1", team="").status_code == 302
    with ctx() as db:
        user = db.get(User, user_id)
        assert [m.organisation.code for m in user.memberships] == ["T-H1"]
        assert db.scalar(select(func.count()).select_from(TeamMember).where(
            TeamMember.user_id == user_id)) == 0


def test_an_admin_cannot_take_away_their_own_admin_role(admin, ctx, world):
    response = edit(admin, world.users["admin"].id, display_name="admin", role="volunteer",
                    organisation="T-A")
    assert response.status_code == 422
    with ctx() as db:
        assert db.get(User, world.users["admin"].id).role.value == "admin"


def test_a_disabled_user_is_re_enabled_and_signs_in_again(app, admin, ctx, world):
    user_id = world.users["volunteer"].id
    page = text_of(admin.get(f"/admin/users/{user_id}"))
    admin.post(f"/admin/users/{user_id}/disable", data={"csrf_token": csrf(page)})
    assert login(app.test_client(), "t_volunteer", PASSWORD).status_code == 401
    page = text_of(admin.get(f"/admin/users/{user_id}"))
    assert "重新启用" in page
    assert admin.post(f"/admin/users/{user_id}/enable",
                      data={"csrf_token": csrf(page)}).status_code == 302
    assert login(app.test_client(), "t_volunteer", PASSWORD).status_code == 302
    with ctx() as db:
        assert db.scalar(select(func.count(AuditEntry.seq)).where(
            AuditEntry.action == "user.enable")) == 1
    again = admin.post(f"/admin/users/{user_id}/enable", data={"csrf_token": csrf(page)})
    assert again.status_code == 302  # refused, said in Chinese, nothing changed
    assert "未被停用" in text_of(admin.get(again.headers["Location"]))


def test_the_admin_finds_users_by_name(admin, world):
    page = text_of(admin.get("/admin/users?q=supervis"))
    assert "t_supervisor" in page and "t_volunteer" not in page


def test_only_admins_open_the_staff_pages(app, world):
    supervisor = app.test_client()
    login(supervisor, "t_supervisor", PASSWORD)
    assert supervisor.get("/admin/users").status_code == 403
    assert supervisor.get(f"/admin/users/{world.users['volunteer'].id}").status_code == 403


def test_an_unknown_user_page_is_a_404_not_a_500(admin):
    assert admin.get("/admin/users/999999").status_code == 404
    page = text_of(admin.get("/admin/users"))
    assert admin.post("/admin/users/999999/reset", data={
        "csrf_token": csrf(page), "credential": "link"}).status_code == 404


# -- one's own password --------------------------------------------------------------------

def test_changing_ones_password_needs_the_current_one_and_ends_other_sessions(app, ctx, world):
    phone, desk = app.test_client(), app.test_client()
    login(phone, "t_counselor", PASSWORD)
    login(desk, "t_counselor", PASSWORD)
    page = text_of(desk.get("/account"))
    wrong = desk.post("/account/password", data={
        "csrf_token": csrf(page), "current_password": "not-my-password",
        "new_password": "a-brand-new-pass", "new_password_again": "a-brand-new-pass"})
    assert wrong.status_code == 422 and "这不是您当前的密码" in text_of(wrong)
    done = desk.post("/account/password", data={
        "csrf_token": csrf(page), "current_password": PASSWORD,
        "new_password": "a-brand-new-pass", "new_password_again": "a-brand-new-pass"})
    assert done.status_code == 302
    assert desk.get("/console/counselor").status_code == 200  # this session goes on
    assert phone.get("/console/counselor").status_code == 302  # the other one ended
    assert login(app.test_client(), "t_counselor", "a-brand-new-pass").status_code == 302


def test_a_legacy_volunteer_without_a_centre_is_told_why_in_chinese(app, ctx, world):
    """Someone created before these rules (with no centre) is not met by an English 403."""
    with ctx() as db:
        db.get(User, world.users["other_volunteer"].id).memberships = []
        db.commit()
    volunteer = app.test_client()
    login(volunteer, "t_other_volunteer", PASSWORD)
    page = volunteer.get("/console/volunteer")
    body = text_of(page)
    assert page.status_code in (200, 403)
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script\b.*?</script>", "", body, flags=re.S))
    assert not re.search(r"\b(only|Forbidden|You may not)\b", visible), visible[:500]
    if page.status_code == 403:
        assert "热线中心" in visible
    duty = volunteer.post("/console/presence/sign_in", data={"csrf_token": csrf(body)})
    visible = re.sub(r"<[^>]+>", " ", text_of(duty))
    assert duty.status_code in (302, 403) and "only hotline" not in visible
