"""The organisations row schema (crisisline/district/imports.py), row by row.

Until the import mechanism (crisisline/imports.py) lands on main, its interface is stood
in for below and the schema's check() and save() are called as the mechanism calls them:
every row checked first (check), then, with no problem anywhere, checked and saved again
in one transaction. Once it lands, the same files go through `crisisline import
organisations FILE` as well.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from crisisline.accounts.models import HospitalKind, Organisation, SchoolKind
from crisisline.audit.models import AuditEntry


def _stand_in_for_the_import_mechanism() -> None:
    """The interface of IMPORTS_API.md, nothing more."""
    module = types.ModuleType("crisisline.imports")

    @dataclass
    class Column:
        name: str
        header: str
        required: bool = False

    class RowInvalid(Exception):
        def __init__(self, problems: dict):
            super().__init__(problems)
            self.problems = problems

    class RowSchema:
        columns: tuple = ()

    @dataclass
    class ImportRun:
        actor: object = None
        seen: dict = field(default_factory=dict)
        credentials: list = field(default_factory=list)

    module.Column, module.RowInvalid, module.RowSchema = Column, RowInvalid, RowSchema
    module.ImportRun, module.register = ImportRun, lambda schema: schema
    sys.modules["crisisline.imports"] = module


try:
    import crisisline.imports  # noqa: F401
except ModuleNotFoundError:
    _stand_in_for_the_import_mechanism()

from crisisline.district.imports import OrganisationRows  # noqa: E402
from crisisline.imports import ImportRun, RowInvalid  # noqa: E402

HEADER = ["代码", "名称", "类型", "所属热线中心", "热线号码", "备用线路", "学校类型", "定点医院",
          "医院类别", "绿色通道电话"]
DISTRICT = [
    ["QJ-C", "綦江心理热线", "热线中心", "", "13800138001；023-48612345", "", "", "", "", ""],
    ["QJ-H1", "綦江区人民医院", "医院", "QJ-C", "", "", "", "", "二甲及以上综合医院精神科",
     "023-48600000"],
    ["QJ-H2", "重庆市精神卫生中心", "医院", "", "", "", "", "", "精神专科医院", ""],
    ["QJ-S1", "綦江中学", "学校", "QJ-C", "", "", "高中", "QJ-H1;QJ-H2", "", ""],
    ["QJ-S2", "重庆工程职业技术学院", "学校", "QJ-C", "", "", "中职", "QJ-H1", "", ""],
]


def rows_of(table: list[list[str]]) -> list[dict[str, str]]:
    """Rows as the mechanism hands them over: each column's English name to its text."""
    names = {column.header: column.name for column in OrganisationRows.columns}
    return [{names[header]: cell.strip() for header, cell in zip(HEADER, row)}
            for row in table]


def run_import(table) -> tuple[dict[int, dict], list[str]]:
    """All or nothing, as the mechanism does it: (problems by row number, outcomes)."""
    schema, problems = OrganisationRows(), {}
    checking = ImportRun()
    for number, row in enumerate(rows_of(table), start=2):  # the header is row 1
        try:
            schema.check(row, checking)
        except RowInvalid as refusal:
            problems[number] = refusal.args[0]
    if problems:
        return problems, []
    saving = ImportRun()
    return {}, [schema.save(schema.check(row, saving), saving) for row in rows_of(table)]


def entries(db) -> int:
    return db.scalar(select(func.count()).select_from(AuditEntry))


def test_a_district_is_imported_and_importing_it_again_changes_nothing(ctx):
    with ctx() as db:
        problems, outcomes = run_import(DISTRICT)
        assert problems == {} and outcomes == ["created"] * 5
        db.commit()
        centre = Organisation.by_code("QJ-C")
        assert [row.number for row in centre.numbers] == ["+8613800138001", "+862348612345"]
        school = Organisation.by_code("QJ-S1")
        assert school.school_kind == SchoolKind.SENIOR_HIGH and school.centre_id == centre.id
        assert [h.code for h in school.designated_hospitals] == ["QJ-H1", "QJ-H2"]
        hospital = Organisation.by_code("QJ-H1")
        assert hospital.hospital_kind == HospitalKind.GRADE_2A_PSYCHIATRIC_DEPARTMENT
        assert hospital.green_channel_phone == "+862348600000"
        assert Organisation.by_code("QJ-H2").centre_id is None
        before = entries(db)
        problems, outcomes = run_import(DISTRICT)
        db.commit()
        assert outcomes == ["unchanged"] * 5
        assert entries(db) == before  # an unchanged row records nothing


def test_a_changed_row_updates_its_organisation(ctx):
    with ctx() as db:
        run_import(DISTRICT)
        db.commit()
        changed = [row[:] for row in DISTRICT]
        changed[3][7] = "QJ-H2"  # 綦江中学 keeps one designated hospital
        changed[0][4] = "13800138001"  # the centre drops its landline
        _, outcomes = run_import(changed)
        db.commit()
        assert outcomes == ["updated", "unchanged", "unchanged", "updated", "unchanged"]
        assert [h.code for h in Organisation.by_code("QJ-S1").designated_hospitals] == ["QJ-H2"]
        assert Organisation.by_code("QJ-C").hotline_number == "+8613800138001"
        assert len(Organisation.by_code("QJ-C").numbers) == 1


def problem_text(app, problems: dict) -> dict[str, str]:
    from crisisline.messages import shown
    with app.test_request_context():
        return {column: str(shown(problem)) for column, problem in problems.items()}


@pytest.mark.parametrize("row, column, words", [
    (["QJ-S9", "学校", "学校", "NOPE", "", "", "高中", "", "", ""], "centre",
     "没有代码为NOPE的热线中心"),
    (["QJ-S9", "学校", "学校", "", "", "", "高中", "", "", ""], "centre",
     "学校必须填写所属热线中心"),
    (["QJ-S9", "学校", "学校", "QJ-C", "", "", "高中", "QJ-C", "", ""], "designated_hospitals",
     "没有代码为QJ-C的医院"),
    (["QJ-C9", "中心", "热线中心", "", "13800138001", "", "", "", "", ""], "hotline_numbers",
     "+8613800138001已是QJ-C的号码"),
    (["QJ-C9", "中心", "热线中心", "", "1380013800", "", "", "", "", ""], "hotline_numbers",
     "1380013800：不是有效的电话号码"),
    (["QJ-C9", "中心", "热线中心", "", "", "abc", "", "", "", ""], "backup_line",
     "电话号码只能包含数字"),
    (["QJ-H9", "医院", "医院", "", "", "", "", "", "专科", ""], "hospital_category",
     "请从以下选项中选择：二甲及以上综合医院精神科、精神专科医院、脑科医院、其他"),
    (["QJ-H9", "医院", "医院", "", "13800138009", "", "", "", "其他", ""], "hotline_numbers",
     "只用于热线中心"),
    (["QJ-H9", "医院", "诊所", "", "", "", "", "", "", ""], "kind",
     "请从以下选项中选择：热线中心、学校、医院"),
    (["QJ-S1", "綦江中学", "医院", "", "", "", "", "", "其他", ""], "code",
     "QJ-S1是学校，不是医院"),
])
def test_a_bad_row_is_named_with_its_column_and_nothing_is_written(app, ctx, row, column, words):
    with ctx():
        problems, outcomes = run_import(DISTRICT + [row])
        assert outcomes == [] and list(problems) == [len(DISTRICT) + 2]
        assert words in problem_text(app, problems[len(DISTRICT) + 2])[column]
        assert Organisation.by_code("QJ-C") is None  # nothing of the good rows either


def test_every_bad_column_of_a_row_is_named_at_once(app, ctx):
    with ctx():
        problems, _ = run_import([["坏 代码", "", "学校", "", "", "", "大学", "X", "", "1"]])
    assert set(problems[2]) == {"code", "name", "centre", "school_kind",
                                "designated_hospitals", "green_channel_phone"}


def test_a_hospital_named_before_it_is_defined_is_unknown(app, ctx):
    with ctx():
        problems, _ = run_import([DISTRICT[0], DISTRICT[3], DISTRICT[1], DISTRICT[2]])
    assert list(problems) == [3]
    assert problem_text(app, problems[3])["designated_hospitals"] == "没有代码为QJ-H1的医院"


def test_english_values_and_names_are_read_too(ctx):
    english = [["EN-C", "Centre", "hotline_centre", "", "+85221234567", "", "", "", "", ""],
               ["EN-S", "School", "School", "EN-C", "", "", "university", "", "", ""]]
    with ctx():
        problems, outcomes = run_import(english)
        assert problems == {} and outcomes == ["created", "created"]
        assert Organisation.by_code("EN-S").school_kind == SchoolKind.UNIVERSITY
