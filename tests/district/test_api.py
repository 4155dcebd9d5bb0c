"""The district through the JSON API, as an administrator's script would set it up."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crisisline.accounts.models import Organisation, SchoolUnit, Team


@pytest.fixture
def admin(api):
    return api("admin")


def test_a_centre_school_and_hospital_are_created_and_read_back(admin, ctx):
    centre = admin.post("/api/district/centres", json={
        "code": "KM-01", "name": "昆明心理援助热线",
        "hotline_numbers": ["0871-65555555", "13900139000"], "backup_line": "2356"})
    assert centre.status_code == 422  # not a number anyone can dial
    assert centre.json["fields"]["backup_line"].startswith("不是有效的电话号码")
    centre = admin.post("/api/district/centres", json={
        "code": "KM-01", "name": "昆明心理援助热线",
        "hotline_numbers": ["0871-65555555", "13900139000"]})
    assert centre.status_code == 201, centre.json
    assert centre.json["hotline_numbers"] == ["+8687165555555", "+8613900139000"]
    hospital = admin.post("/api/district/hospitals", json={
        "code": "KM-H1", "name": "昆明市精神卫生中心", "hospital_category": "精神专科医院",
        "green_channel_phone": "0871-63333333", "centre": "KM-01"})
    assert hospital.status_code == 201, hospital.json
    assert hospital.json["hospital_category"] == "specialist_psychiatric"
    school = admin.post("/api/district/schools", json={
        "code": "KM-S1", "name": "昆明第一中学", "school_kind": "高中", "centre": "KM-01",
        "designated_hospitals": ["KM-H1"]})
    assert school.status_code == 201, school.json
    assert school.json | {"id": 0} == {
        "id": 0, "code": "KM-S1", "name": "昆明第一中学", "kind": "school", "centre": "KM-01",
        "school_kind": "senior_high", "designated_hospitals": ["KM-H1"],
        "hotline_numbers": [], "backup_line": None, "hospital_category": None,
        "green_channel_phone": None}
    listed = admin.get("/api/district/schools")
    assert "KM-S1" in [row["code"] for row in listed.json]
    assert admin.get("/api/district/centres/KM-01").json["name"] == "昆明心理援助热线"


def test_a_patch_changes_only_what_it_names(admin, ctx, world):
    response = admin.client.patch("/api/district/hospitals/T-H2", headers=admin.headers,
                                  json={"green_channel_phone": "13700137000"})
    assert response.status_code == 200, response.json
    assert response.json["green_channel_phone"] == "+8613700137000"
    assert response.json["hospital_category"] == "general"  # kept
    response = admin.client.patch("/api/district/schools/T-S", headers=admin.headers,
                                  json={"school_kind": "初中"})
    assert response.status_code == 200 and response.json["centre"] == "T-A"


@pytest.mark.parametrize("kind, body, field, words", [
    ("schools", {"code": "Z-1", "name": "学校", "school_kind": "高中", "centre": "NOPE"},
     "centre", "没有代码为NOPE的热线中心"),
    ("schools", {"code": "Z-1", "name": "学校", "school_kind": "高中", "centre": ""},
     "centre", "学校必须填写所属热线中心"),
    ("schools", {"code": "Z-1", "name": "学校", "school_kind": "高中", "centre": "T-A",
                 "designated_hospitals": ["T-S"]},
     "designated_hospitals", "没有代码为T-S的医院"),
    ("schools", {"code": "Z-1", "name": "学校", "school_kind": "大学", "centre": "T-A"},
     "school_kind", "请从以下选项中选择：小学、初中、高中、中职、高校"),
    ("centres", {"code": "Z-1", "name": "中心", "hotline_numbers": ["+8610012356"]},
     "hotline_numbers", "+8610012356已是T-A的号码"),
    ("centres", {"code": "T-B", "name": "中心"}, "code", "代码为T-B的机构已存在"),
    ("centres", {"code": "中心/1", "name": "中心"}, "code", "只能使用字母、数字"),
    ("hospitals", {"code": "Z-1", "name": "医院", "hospital_category": "其他",
                   "green_channel_phone": "110"}, "green_channel_phone", "不是有效的电话号码"),
])
def test_each_refusal_names_its_field_in_chinese_and_saves_nothing(admin, ctx, world, kind, body,
                                                                     field, words):
    response = admin.post(f"/api/district/{kind}", json=body)
    assert response.status_code == 422, response.json
    assert words in response.json["fields"][field]
    with ctx():
        assert Organisation.by_code("Z-1") is None


def test_refusals_are_in_english_on_request(admin, world):
    response = admin.post("/api/district/schools?lang=en", json={
        "code": "Z-1", "name": "School", "school_kind": "primary", "centre": ""})
    assert response.json["fields"]["centre"] == "a school needs the hotline centre that serves it"


def test_units_are_added_by_path_renamed_and_removed(admin, ctx, world):
    admin.client.patch("/api/district/schools/T-S", headers=admin.headers,
                       json={"school_kind": "初中"})  # classes sit in grades
    added = admin.post("/api/district/schools/T-S/units",
                       json={"kind": "class", "path": "初一/3班"})
    assert added.status_code == 201, added.json
    assert added.json["path"] == "初一/3班"
    again = admin.post("/api/district/schools/T-S/units", json={"kind": "班级", "path": "初一/3班"})
    assert again.json["id"] == added.json["id"]  # ensured, not duplicated
    units = admin.get("/api/district/schools/T-S/units").json
    assert [(unit["path"], unit["kind"]) for unit in units] == [("初一", "grade"),
                                                                ("初一/3班", "class")]
    renamed = admin.client.patch(f"/api/district/units/{added.json['id']}",
                                 headers=admin.headers, json={"name": "三班"})
    assert renamed.json["path"] == "初一/三班"
    removed = admin.client.delete(f"/api/district/units/{added.json['id']}",
                                  headers=admin.headers)
    assert removed.status_code == 204
    with ctx() as db:
        assert [unit.path for unit in db.scalars(select(SchoolUnit).where(
            SchoolUnit.school_id == world.orgs["S"].id))] == ["初一"]


def test_a_dormitory_needs_its_building(admin, world):
    response = admin.post("/api/district/schools/T-S/units", json={"kind": "dormitory",
                                                                   "path": "302"})
    assert response.status_code == 422
    assert response.json["fields"]["unit"] == "宿舍应写作1号楼/302"


def test_teams_and_members_by_username_or_name(admin, ctx, world):
    team = admin.post("/api/district/centres/T-A/teams", json={"name": "周末班"})
    assert team.status_code == 201
    team_id = team.json["id"]
    assert admin.post(f"/api/district/teams/{team_id}/members",
                      json={"member": "counselor"}).status_code == 200  # by name
    response = admin.post(f"/api/district/teams/{team_id}/members",
                          json={"member": "t_volunteer"})  # by username
    assert [m["username"] for m in response.json["members"]] == ["t_counselor", "t_volunteer"]
    outsider = admin.post(f"/api/district/teams/{team_id}/members",
                          json={"member": "t_outsider_counselor"})  # centre B's
    assert outsider.status_code == 422 and "member" in outsider.json["fields"]
    duplicate = admin.post("/api/district/centres/T-A/teams", json={"name": "周末班"})
    assert duplicate.status_code == 422
    assert duplicate.json["fields"]["name"] == "本中心已有名为周末班的小组"
    left = admin.client.delete(f"/api/district/teams/{team_id}/members/t_counselor",
                               headers=admin.headers)
    assert [m["username"] for m in left.json["members"]] == ["t_volunteer"]
    removed = admin.client.delete(f"/api/district/teams/{team_id}", headers=admin.headers)
    assert removed.status_code == 204, removed.json
    with ctx() as db:
        assert db.get(Team, team_id) is None


@pytest.mark.parametrize("role", ["volunteer", "counselor", "supervisor", "liaison", "reporter"])
def test_only_admins_use_the_district_api(api, ctx, world, role):
    caller = api(role)
    assert caller.get("/api/district/centres").status_code == 403
    response = caller.post("/api/district/centres", json={"code": "Z-9", "name": "中心"})
    assert response.status_code == 403
    assert re.search(r"[\u4e00-\u9fff]", response.json["error"])
    with ctx():
        assert Organisation.by_code("Z-9") is None


def test_the_api_is_described_in_openapi(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/district/centres", "/api/district/schools/{code}/units",
            "/api/district/teams/{team_id}/members"} <= set(paths)
