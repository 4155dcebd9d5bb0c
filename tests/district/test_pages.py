"""The administrator sets up the district in Chinese pages: centres with their numbers,
schools with their units and designated hospitals, hospitals, and teams."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crisisline.accounts.models import (HospitalKind, Organisation, SchoolKind, SchoolUnit,
                                        Team, UnitKind)
from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD


def token(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def post(client, path: str, page: str | None = None, **data):
    """Post a form as its page does: with the page's CSRF token."""
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": token(html), **data})


@pytest.fixture
def admin(client, world):
    assert login(client, "t_admin", PASSWORD).status_code == 302
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def audit_actions(ctx) -> list[str]:
    with ctx() as db:
        return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_the_admin_finds_the_district_from_the_navigation(admin):
    home = text(admin.get("/admin/users"))
    assert 'href="/admin/district"' in home and ">区域设置<" in home
    page = text(admin.get("/admin/district"))
    assert "<h1>区域设置</h1>" in page
    for words in ("热线中心", "学校", "医院", "添加热线中心", "添加学校", "添加医院"):
        assert words in page


def test_a_centre_is_created_with_two_numbers_typed_as_people_write_them(admin, ctx):
    response = post(admin, "/admin/district/centres/new", code="GY-01", name="贵阳心理热线",
                    hotline_numbers="13800138000\n010-12345678", backup_line="0851-12345678")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/district/centres/GY-01")
    with ctx():
        centre = Organisation.by_code("GY-01")
        assert [row.number for row in centre.numbers] == ["+8613800138000", "+861012345678"]
        assert centre.backup_line == "+8685112345678"
        assert centre.hotline_number == "+8613800138000"  # the one it calls from
    page = text(admin.get("/admin/district/centres/GY-01"))
    assert "贵阳心理热线" in page and "+8613800138000\n+861012345678" in page
    assert "organisation.create" in audit_actions(ctx)


def test_a_bad_number_is_refused_in_chinese_naming_the_field_and_nothing_is_saved(admin, ctx):
    response = post(admin, "/admin/district/centres/new", code="GY-02", name="热线二",
                    hotline_numbers="13800138000\n1234")
    assert response.status_code == 422
    page = text(response)
    assert "热线号码" in page and "1234：不是有效的电话号码" in page
    assert "13800138000\n1234" in page  # what was typed is kept
    with ctx():
        assert Organisation.by_code("GY-02") is None


def test_a_number_of_another_centre_is_refused(admin, ctx, world):
    response = post(admin, "/admin/district/centres/new", code="GY-03", name="热线三",
                    hotline_numbers="+8610012356")  # centre T-A's
    assert response.status_code == 422
    assert "热线号码：+8610012356已是T-A的号码" in text(response)
    with ctx():
        assert Organisation.by_code("GY-03") is None


def test_a_centre_is_edited_and_its_code_stays(admin, ctx, world):
    response = post(admin, "/admin/district/centres/T-B", name="中心乙（新）",
                    hotline_numbers="021-666", backup_line="")
    assert response.status_code == 422  # a landline too short
    assert "热线号码" in text(response)
    response = post(admin, "/admin/district/centres/T-B", name="中心乙（新）",
                    hotline_numbers="021-66668888", backup_line="")
    assert response.status_code == 302
    with ctx():
        centre = Organisation.by_code("T-B")
        assert centre.name == "中心乙（新）" and centre.hotline_number == "+862166668888"
    assert audit_actions(ctx)[-1] == "organisation.update"


def test_a_school_is_created_with_its_centre_kind_and_designated_hospitals(admin, ctx, world):
    page = text(admin.get("/admin/district/schools/new"))
    for label in ("小学", "初中", "高中", "中职", "高校", "所属热线中心", "定点医院"):
        assert label in page
    response = post(admin, "/admin/district/schools/new", code="GY-U1", name="贵州大学",
                    school_kind="university", centre="T-A",
                    designated_hospitals=["T-H1", "T-H2"])
    assert response.status_code == 302
    with ctx():
        school = Organisation.by_code("GY-U1")
        assert school.school_kind == SchoolKind.UNIVERSITY
        assert school.centre_id == world.orgs["A"].id
        assert [h.code for h in school.designated_hospitals] == ["T-H1", "T-H2"]


def test_a_school_without_a_centre_is_refused(admin, ctx):
    response = post(admin, "/admin/district/schools/new", code="GY-U2", name="无中心学校",
                    school_kind="primary", centre="")
    assert response.status_code == 422
    assert "所属热线中心：学校必须填写所属热线中心" in text(response)
    with ctx():
        assert Organisation.by_code("GY-U2") is None


def test_a_school_gets_a_department_a_class_a_building_and_a_room(admin, ctx, world):
    school = "/admin/district/schools/T-S"
    assert post(admin, school + "/units", school, kind="department",
                name="计算机学院").status_code == 302
    with ctx() as db:
        department = db.scalar(select(SchoolUnit).where(SchoolUnit.name == "计算机学院"))
    assert post(admin, school + "/units", school, kind="class", name="2023级1班",
                parent=str(department.id)).status_code == 302
    assert post(admin, school + "/units", school, kind="building",
                name="1号楼").status_code == 302
    with ctx() as db:
        building = db.scalar(select(SchoolUnit).where(SchoolUnit.name == "1号楼"))
    assert post(admin, school + "/units", school, kind="dormitory", name="302",
                parent=str(building.id)).status_code == 302
    with ctx() as db:
        paths = {unit.path: unit.kind for unit in db.scalars(
            select(SchoolUnit).where(SchoolUnit.school_id == world.orgs["S"].id))}
    assert paths == {"计算机学院": UnitKind.DEPARTMENT, "计算机学院/2023级1班": UnitKind.CLASS,
                     "1号楼": UnitKind.BUILDING, "1号楼/302": UnitKind.DORMITORY}
    page = text(admin.get(school))
    for words in ("计算机学院", "2023级1班", "宿舍楼", "302", "院系", "班级"):
        assert words in page
    assert audit_actions(ctx)[-4:] == ["school_unit.create"] * 4


def test_a_class_outside_a_department_or_grade_is_refused(admin, ctx, world):
    school = "/admin/district/schools/T-S"
    response = post(admin, school + "/units", school, kind="class", name="1班")
    assert response.status_code == 422
    assert "上级单位：班级应属于院系或年级" in text(response)
    with ctx() as db:
        assert db.scalar(select(SchoolUnit).where(SchoolUnit.name == "1班")) is None


def test_a_unit_is_renamed_and_an_empty_one_removed_but_not_a_full_one(admin, ctx, world):
    from crisisline.district import services
    with ctx() as db:
        grade = services.add_unit(world.orgs["S"].id, "grade", "初一")
        klass = services.add_unit(world.orgs["S"].id, "class", "1班", grade.id)
        db.commit()
        grade_id, class_id = grade.id, klass.id
    school = "/admin/district/schools/T-S"
    assert post(admin, f"/admin/district/units/{class_id}/rename", school,
                name="一班").status_code == 302
    refused = post(admin, f"/admin/district/units/{grade_id}/remove", school)
    assert refused.status_code == 409
    assert "初一下仍有单位、学生或工作人员" in text(refused)
    assert post(admin, f"/admin/district/units/{class_id}/remove", school).status_code == 302
    assert post(admin, f"/admin/district/units/{grade_id}/remove", school).status_code == 302
    with ctx() as db:
        assert db.scalar(select(SchoolUnit).where(SchoolUnit.school_id == world.orgs["S"].id)) \
            is None
    assert audit_actions(ctx)[-3:] == ["school_unit.rename", "school_unit.remove",
                                       "school_unit.remove"]


def test_a_hospital_is_created_with_its_category_and_green_channel(admin, ctx, world):
    page = text(admin.get("/admin/district/hospitals/new"))
    for label in ("二甲及以上综合医院精神科", "精神专科医院", "脑科医院", "其他", "绿色通道电话"):
        assert label in page
    response = post(admin, "/admin/district/hospitals/new", code="GY-H1",
                    name="贵州省第二人民医院", hospital_category="specialist_psychiatric",
                    green_channel_phone="0851-85555555", centre="T-A")
    assert response.status_code == 302
    with ctx():
        hospital = Organisation.by_code("GY-H1")
        assert hospital.hospital_kind == HospitalKind.SPECIALIST_PSYCHIATRIC
        assert hospital.green_channel_phone == "+8685185555555"
        assert hospital.centre_id == world.orgs["A"].id


def test_a_bad_green_channel_phone_and_a_missing_category_are_both_named(admin, ctx):
    response = post(admin, "/admin/district/hospitals/new", code="GY-H2", name="医院二",
                    hospital_category="", green_channel_phone="abc")
    assert response.status_code == 422
    page = text(response)
    assert "医院类别：必填" in page
    assert "绿色通道电话：电话号码只能包含数字" in page
    with ctx():
        assert Organisation.by_code("GY-H2") is None


def test_a_team_is_created_and_members_are_picked_by_name(admin, ctx, world):
    response = post(admin, "/admin/district/centres/T-A/teams", "/admin/district/centres/T-A",
                    name="夜班")
    assert response.status_code == 302
    with ctx() as db:
        team = db.scalar(select(Team).where(Team.name == "夜班"))
    page = f"/admin/district/teams/{team.id}"
    shown = text(admin.get(page))
    assert '<option value="volunteer (t_volunteer)">' in shown  # offered by name
    assert "t_liaison" not in shown  # only the centre's hotline staff
    assert post(admin, f"{page}/members", page, member="volunteer (t_volunteer)")\
        .status_code == 302
    assert post(admin, f"{page}/members", page, member="supervisor").status_code == 302
    refused = post(admin, f"{page}/members", page, member="liaison")
    assert refused.status_code == 422
    assert "组员：本中心的热线工作人员中没有liaison" in text(refused)
    with ctx() as db:
        assert sorted(u.username for u in db.get(Team, team.id).members) == [
            "t_supervisor", "t_volunteer"]
    assert post(admin, f"{page}/members/t_volunteer/remove", page).status_code == 302
    with ctx() as db:
        assert [u.username for u in db.get(Team, team.id).members] == ["t_supervisor"]
    assert audit_actions(ctx)[-4:] == ["team.create", "team.member_add", "team.member_add",
                                       "team.member_remove"]


def test_a_team_with_cases_is_not_removed_and_an_idle_one_is(admin, ctx, world):
    with ctx() as db:
        busy = db.scalar(select(Team).where(Team.name == "on duty"))
        busy_id = busy.id
    refused = post(admin, f"/admin/district/teams/{busy_id}/remove",
                   f"/admin/district/teams/{busy_id}")
    assert refused.status_code == 409 and "有个案分配给小组on duty，不能删除" in text(refused)
    post(admin, "/admin/district/centres/T-A/teams", "/admin/district/centres/T-A", name="备勤")
    with ctx() as db:
        idle_id = db.scalar(select(Team.id).where(Team.name == "备勤"))
    assert post(admin, f"/admin/district/teams/{idle_id}/remove",
                f"/admin/district/teams/{idle_id}").status_code == 302
    with ctx() as db:
        assert db.get(Team, idle_id) is None and db.get(Team, busy_id) is not None


@pytest.mark.parametrize("role", ["volunteer", "counselor", "supervisor", "liaison", "reporter"])
def test_only_the_admin_sets_up_the_district(app, world, ctx, role):
    browser = app.test_client()
    assert login(browser, f"t_{role}", PASSWORD).status_code == 302
    for path in ("/admin/district", "/admin/district/centres/new",
                 "/admin/district/centres/T-A", "/admin/district/schools/T-S"):
        assert browser.get(path).status_code == 403, (role, path)
    html = text(browser.get("/", follow_redirects=True))  # their console: a CSRF token
    response = browser.post("/admin/district/centres/new",
                            data={"csrf_token": token(html), "code": "X-1", "name": "x"})
    assert response.status_code == 403
    with ctx():
        assert Organisation.by_code("X-1") is None


def test_an_unknown_organisation_is_not_found(admin):
    assert admin.get("/admin/district/centres/NOPE").status_code == 404
    assert admin.get("/admin/district/schools/T-A").status_code == 404  # a centre, not a school


def test_each_district_change_reads_in_chinese_in_the_audit_trail(app, admin, ctx, world):
    from crisisline.audit.labels import action_label, change_lines, object_label
    post(admin, "/admin/district/hospitals/new", code="GY-H3", name="脑科医院",
         hospital_category="brain_hospital", centre="T-A")
    post(admin, "/admin/district/schools/T-S", school_kind="primary", centre="T-A",
         name="学校甲", designated_hospitals=["GY-H3"])
    post(admin, "/admin/district/schools/T-S/units", "/admin/district/schools/T-S",
         kind="grade", name="一年级")
    with ctx() as db:
        recorded = db.scalars(select(AuditEntry).where(AuditEntry.action.in_(
            ["organisation.create", "organisation.update", "school_unit.create"]))
            .order_by(AuditEntry.seq)).all()
        with app.test_request_context("/"):
            shown = [(action_label(e.action), object_label(e.object_type),
                      dict(change_lines(e.changes))) for e in recorded]
    assert [(action, record) for action, record, _ in shown] == [
        ("创建机构", "机构"), ("修改机构", "机构"), ("添加学校单位", "学校单位")]
    assert shown[0][2]["医院类别"] == "脑科医院" and shown[0][2]["所属热线中心"] == "T-A"
    assert shown[1][2]["学校类型"] == "小学" and shown[1][2]["定点医院"] == '[] → ["GY-H3"]'
    assert shown[2][2] == {"学校": "T-S", "单位": "一年级", "类型": "年级"}
