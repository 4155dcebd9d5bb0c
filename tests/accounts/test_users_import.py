"""The users import's row schema: check() names every bad column of a row in Chinese and
save() creates or updates through the staff services.

Until the import mechanism (``crisisline/imports.py``) is on main, its interface (as
described for row schemas: Column, RowInvalid, RowSchema, ImportRun, register) is stood in
for here, so check() and save() are tested directly; once it lands the real one is used.
"""
from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass, field

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from crisisline.accounts.models import SchoolUnit, UnitKind, User
from crisisline.audit.models import AuditEntry
from crisisline.messages import shown
from tests.conftest import login


def _interface():
    try:
        return importlib.import_module("crisisline.imports")
    except ModuleNotFoundError:
        pass
    stand_in = types.ModuleType("crisisline.imports")

    @dataclass(frozen=True)
    class Column:
        name: str
        header: str
        required: bool = False

    class RowInvalid(Exception):
        def __init__(self, problems: dict):
            super().__init__(problems)
            self.problems = problems

    class RowSchema:
        pass

    @dataclass
    class ImportRun:
        actor: object = None
        credentials: list = field(default_factory=list)
        seen: dict = field(default_factory=dict)

    stand_in.Column, stand_in.RowInvalid, stand_in.RowSchema = Column, RowInvalid, RowSchema
    stand_in.ImportRun, stand_in.register = ImportRun, lambda schema: schema
    sys.modules["crisisline.imports"] = stand_in
    return stand_in


interface = _interface()
from crisisline.accounts.imports import UserRows  # noqa: E402  (after the interface)

ROW = {"username": "", "name": "", "role": "", "organisation": "", "unit": "",
       "identity": "", "phone": "", "languages": "", "team": ""}


def run():
    return interface.ImportRun(actor=None, credentials=[])


def problems_of(error) -> dict:
    from flask import current_app
    found = getattr(error, "problems", None) or (error.args[0] if error.args else {})
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
    with ctx(), app.test_request_context(), pytest.raises(interface.RowInvalid) as refused:
        UserRows().check(row, run())
    with app.app_context():
        problems = problems_of(refused.value)
    assert set(problems) == {"username", "name", "unit", "phone", "languages"}
    assert "没有单位“初一/9班”" in problems["unit"]
    assert "不是有效的电话号码" in problems["phone"]


@pytest.mark.parametrize("changes, column, words", [
    ({"role": "老师"}, "role", "未知的角色"),
    ({"role": "志愿者", "organisation": "T-S"}, "organisation", "必须属于一个热线中心"),
    ({"role": "医院联络员", "organisation": "T-A"}, "organisation", "必须属于一家医院"),
    ({"role": "学校报告人", "organisation": "T-S", "identity": "校长"}, "identity",
     "未知的报告人身份"),
    ({"role": "学校报告人", "organisation": "T-S", "identity": "宿舍心理信息员",
      "unit": "初一/1班"}, "unit", "宿舍心理信息员不能设在班级"),
    ({"role": "值班咨询师", "organisation": "T-A", "team": "夜班"}, "team", "没有值班组“夜班”"),
    ({"role": "督导", "organisation": "NOPE"}, "organisation", "NOPE"),
])
def test_a_row_for_someone_who_could_not_do_their_job_is_refused(app, ctx, school, changes,
                                                                  column, words):
    row = {**ROW, "username": "new.one", "name": "新人", **changes}
    with ctx(), app.test_request_context(), pytest.raises(interface.RowInvalid) as refused:
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
