"""Students imported from the files schools keep: units made from the rows, guardians'
phones stored as +86…, special groups, every bad column named, nothing half-written, and
the same file again changing nothing; through the service and the command line."""
from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from flask_babel import force_locale
from openpyxl import Workbook
from sqlalchemy import create_engine, func, select

from casework.models import Gender, SpecialGroup, Student
from crisisline.accounts.models import SchoolUnit, UnitKind
from crisisline.audit.models import AuditEntry
from crisisline.imports import import_file
from crisisline.messages import shown
from tests.conftest import ROOT

HEADER = ["学校代码", "学号", "姓名", "性别", "出生日期", "院系/年级", "班级", "宿舍",
          "监护人1姓名", "监护人1关系", "监护人1电话", "监护人2姓名", "监护人2关系",
          "监护人2电话", "特殊群体"]
ROWS = [
    ["T-S", "2024001", "陈一", "男", "2012/3/4", "七年级", "1班", "3号楼/201",
     "陈爸爸", "父亲", "139 0000 1111", "陈妈妈", "母亲", "+86 138-0000-2222", "留守儿童；残疾"],
    ["T-S", "2024002", "林二", "女", "2012-11-30", "七年级", "2班", "3号楼/202",
     "林奶奶", "祖母", "13700003333", "", "", "", ""],
    ["T-S", "2024003", "周三", "", "", "", "", "", "", "", "", "", "", "", ""],
]


def csv_file(tmp_path: Path, rows, *, encoding="gb18030", name="students.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(",".join(row) for row in rows) + "\r\n").encode(encoding))
    return path


def imported(ctx, path: Path, **options):
    with ctx() as db:
        report = import_file("students", path, **options)
        if report.ok and not options.get("dry_run"):
            db.commit()
        with force_locale("zh_Hans_CN"):
            return report, [shown(problem.line()) for problem in report.problems]


def test_a_gbk_file_of_students_makes_their_files_units_and_guardians(ctx, world, tmp_path):
    report, problems = imported(ctx, csv_file(tmp_path, [HEADER, *ROWS]))
    assert problems == [] and report.counts == {"created": 3, "updated": 0, "unchanged": 0}
    with ctx() as db:
        chen = db.scalar(select(Student).where(Student.student_number == "2024001"))
        assert (chen.name, chen.gender, chen.birth_date) == ("陈一", Gender.MALE,
                                                             datetime.date(2012, 3, 4))
        assert chen.class_unit.path == "七年级/1班"
        assert chen.class_unit.parent.kind == UnitKind.DEPARTMENT  # S has no kind: a 院系
        assert chen.dormitory_unit.path == "3号楼/201"
        assert chen.dormitory_unit.parent.kind == UnitKind.BUILDING
        assert [(g.name, g.relation, g.phone) for g in chen.guardians] == [
            ("陈爸爸", "父亲", "+8613900001111"), ("陈妈妈", "母亲", "+8613800002222")]
        assert chen.special_groups == [SpecialGroup.LEFT_BEHIND, SpecialGroup.DISABLED]
        zhou = db.scalar(select(Student).where(Student.student_number == "2024003"))
        assert zhou.class_unit is None and zhou.guardians == [] and zhou.gender is None
        # one grade, two classes, one building, two rooms: each unit made once
        assert db.scalar(select(func.count(SchoolUnit.id)).where(
            SchoolUnit.school_id == world.orgs["S"].id)) == 6
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "student.create")) == 3


def test_the_same_file_again_changes_nothing_and_a_changed_row_updates(ctx, world, tmp_path):
    path = csv_file(tmp_path, [HEADER, *ROWS])
    imported(ctx, path)
    report, _ = imported(ctx, path)
    assert report.counts == {"created": 0, "updated": 0, "unchanged": 3}
    changed = [row[:] for row in ROWS]
    changed[1][10] = "13700004444"  # 林二's grandmother has a new phone
    report, _ = imported(ctx, csv_file(tmp_path, [HEADER, *changed], name="again.csv"))
    assert report.counts == {"created": 0, "updated": 1, "unchanged": 2}
    with ctx() as db:
        lin = db.scalar(select(Student).where(Student.student_number == "2024002"))
        assert lin.guardians[0].phone == "+8613700004444"
        updates = db.scalars(select(AuditEntry).where(AuditEntry.action == "student.update")).all()
        assert [entry.changes for entry in updates] == [{"guardians": {"changed": True}}]


def test_every_bad_column_of_every_row_is_named_and_nothing_is_written(ctx, world, tmp_path):
    bad = [
        ["T-NOPE", "X1", "张\u202e三", "未知", "2012-13-01", "七年级", "1班", "3号楼/201/9",
         "", "父亲", "12345", "王妈妈", "", "13800000000", "富裕"],
        ["T-S", "", "正常名", "女", "2099-01-01", "", "", "", "", "", "", "", "", "", ""],
    ]
    report, problems = imported(ctx, csv_file(tmp_path, [HEADER, *ROWS, *bad]))
    assert not report.ok
    for expected in ("第5行 学校代码", "第5行 姓名", "第5行 性别", "第5行 出生日期",
                     "第5行 宿舍", "第5行 监护人1姓名", "第5行 监护人1电话", "第5行 监护人2关系",
                     "第5行 特殊群体", "第6行 学号", "第6行 出生日期"):
        assert any(line.startswith(expected) for line in problems), (expected, problems)
    assert len(problems) == 11
    with ctx() as db:
        assert db.scalar(select(func.count(Student.id)).where(
            Student.student_number.like("2024%"))) == 0
        assert db.scalar(select(func.count(SchoolUnit.id)).where(
            SchoolUnit.school_id == world.orgs["S"].id)) == 0


def test_the_first_sheet_of_an_xlsx_file_with_numbers_and_dates_as_excel_keeps_them(
        ctx, world, tmp_path):
    book = Workbook()
    book.active.append(["school_code", "student_number", "name", "gender", "birth_date",
                        "guardian1_name", "guardian1_relation", "guardian1_phone"])
    book.active.append(["T-S", 2024101, "黄四", "女", datetime.datetime(2011, 6, 1), "黄妈妈",
                        "母亲", 13912340000])
    path = tmp_path / "students.xlsx"
    book.save(path)
    report, problems = imported(ctx, path)
    assert problems == [] and report.counts["created"] == 1
    with ctx() as db:
        huang = db.scalar(select(Student).where(Student.student_number == "2024101"))
        assert huang.birth_date == datetime.date(2011, 6, 1)
        assert huang.guardians[0].phone == "+8613912340000"


def test_a_dry_run_writes_nothing(ctx, world, tmp_path):
    report, _ = imported(ctx, csv_file(tmp_path, [HEADER, *ROWS]), dry_run=True)
    assert report.ok and report.counts["created"] == 3
    with ctx() as db:
        assert db.scalar(select(func.count(Student.id)).where(
            Student.student_number.like("2024%"))) == 0


# -- through the command line --------------------------------------------------------------

@pytest.fixture
def school_on_the_command_line(crisisline, cli_database_url):
    """A fresh database with the example district's first school (the organisations
    import is another part of issue 12)."""
    crisisline("init")
    url = cli_database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO organisations (code, name, kind, created_at) VALUES "
            "('SCH-NO1', '第一中学', 'school', CURRENT_TIMESTAMP)")
    engine.dispose()
    return crisisline


def test_the_example_schools_gbk_csv_imports_from_the_command_line_once(
        school_on_the_command_line, tmp_path):
    crisisline = school_on_the_command_line
    example = shutil.copy(ROOT / "examples/district/students-SCH-NO1.csv", tmp_path)
    first = crisisline("import", "students", str(example))
    rows = len(Path(example).read_text(encoding="gb18030").splitlines()) - 1
    assert f"{rows} created" in first.stdout
    again = crisisline("import", "students", str(example))
    assert f"0 created, 0 updated, {rows} unchanged" in again.stdout


def test_a_bad_row_on_the_command_line_exits_1_naming_it_in_chinese(
        school_on_the_command_line, tmp_path):
    crisisline = school_on_the_command_line
    path = csv_file(tmp_path, [HEADER, ["SCH-NO1", "1", "王五", "男", "2012/2/30", "", "", "",
                                        "", "", "", "", "", "", ""]])
    result = crisisline("import", "students", str(path), check=False,
                        env={"LANG": "zh_CN.UTF-8"})
    assert result.returncode == 1
    assert "第2行 出生日期" in result.stderr
    assert "0 created" not in result.stdout
