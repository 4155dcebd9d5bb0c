"""Importing organisations (crisisline/district/imports.py): through the import mechanism
in process, and through `crisisline import organisations FILE` as an administrator runs it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from flask_babel import force_locale
from openpyxl import Workbook
from sqlalchemy import create_engine, func, select, text

from crisisline.accounts.models import HospitalKind, Organisation, SchoolKind
from crisisline.audit.models import AuditEntry
from crisisline.district.imports import OrganisationRows
from crisisline.imports import import_file
from crisisline.messages import shown
from tests.conftest import ROOT

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


def csv_file(folder: Path, table, *, encoding="utf-8-sig", header=HEADER) -> Path:
    path = folder / "organisations.csv"
    path.write_bytes("\r\n".join(",".join(row) for row in [header, *table]).encode(encoding))
    return path


def run_import(path: Path) -> tuple[dict[int, dict[str, str]], dict[str, int]]:
    """(each bad row's problems by the column's Chinese header, the outcomes' counts)."""
    report = import_file("organisations", path)
    problems: dict[int, dict[str, str]] = {}
    with force_locale("zh_Hans_CN"):
        for problem in report.problems:
            problems.setdefault(problem.row, {})[problem.column] = str(shown(problem.message))
    return problems, {outcome: count for outcome, count in report.counts.items() if count}


def entries(db) -> int:
    return db.scalar(select(func.count()).select_from(AuditEntry))


def test_a_district_is_imported_and_importing_it_again_changes_nothing(ctx, tmp_path):
    path = csv_file(tmp_path, DISTRICT)
    with ctx() as db:
        assert run_import(path) == ({}, {"created": 5})
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
        assert run_import(path) == ({}, {"unchanged": 5})
        db.commit()
        assert entries(db) == before + 1  # the import's own entry; no change recorded


def test_a_changed_row_updates_its_organisation(ctx, tmp_path):
    with ctx() as db:
        run_import(csv_file(tmp_path, DISTRICT))
        db.commit()
        changed = [row[:] for row in DISTRICT]
        changed[3][7] = "QJ-H2"  # 綦江中学 keeps one designated hospital
        changed[0][4] = "13800138001"  # the centre drops its landline
        assert run_import(csv_file(tmp_path, changed)) == ({}, {"updated": 2, "unchanged": 3})
        db.commit()
        assert [h.code for h in Organisation.by_code("QJ-S1").designated_hospitals] == ["QJ-H2"]
        assert [row.number for row in Organisation.by_code("QJ-C").numbers] == [
            "+8613800138001"]
        updates = db.scalars(select(AuditEntry.action).where(
            AuditEntry.action == "organisation.update")).all()
        assert len(updates) == 2


def test_a_gbk_csv_and_an_xlsx_workbook_with_english_headers_are_read(ctx, tmp_path):
    english = [column.name for column in OrganisationRows.columns]
    book = Workbook()
    for row in [english, *DISTRICT[:2]]:
        book.active.append(row)
    book.save(tmp_path / "centres.xlsx")
    with ctx():
        assert run_import(tmp_path / "centres.xlsx") == ({}, {"created": 2})
        assert run_import(csv_file(tmp_path, DISTRICT, encoding="gbk")) == (
            {}, {"created": 3, "unchanged": 2})


@pytest.mark.parametrize("row, column, words", [
    (["QJ-S9", "学校", "学校", "NOPE", "", "", "高中", "", "", ""], "所属热线中心",
     "没有代码为NOPE的热线中心"),
    (["QJ-S9", "学校", "学校", "", "", "", "高中", "", "", ""], "所属热线中心",
     "学校必须填写所属热线中心"),
    (["QJ-S9", "学校", "学校", "QJ-C", "", "", "高中", "QJ-C", "", ""], "定点医院",
     "没有代码为QJ-C的医院"),
    (["QJ-C9", "中心", "热线中心", "", "13800138001", "", "", "", "", ""], "热线号码",
     "+8613800138001已是QJ-C的号码"),
    (["QJ-C9", "中心", "热线中心", "", "1380013800", "", "", "", "", ""], "热线号码",
     "1380013800：不是有效的电话号码"),
    (["QJ-C9", "中心", "热线中心", "", "", "abc", "", "", "", ""], "备用线路",
     "电话号码只能包含数字"),
    (["QJ-H9", "医院", "医院", "", "", "", "", "", "专科", ""], "医院类别",
     "请从以下选项中选择：二甲及以上综合医院精神科、精神专科医院、脑科医院、其他"),
    (["QJ-H9", "医院", "医院", "", "13800138009", "", "", "", "其他", ""], "热线号码",
     "只用于热线中心"),
    (["QJ-H9", "医院", "诊所", "", "", "", "", "", "", ""], "类型",
     "请从以下选项中选择：热线中心、学校、医院"),
    (["QJ-S1", "綦江中学", "医院", "", "", "", "", "", "其他", ""], "代码",
     "QJ-S1是学校，不是医院"),
])
def test_a_bad_row_is_named_with_its_column_and_nothing_is_written(ctx, tmp_path, row, column,
                                                                  words):
    with ctx():
        problems, _ = run_import(csv_file(tmp_path, DISTRICT + [row]))
        assert list(problems) == [len(DISTRICT) + 2]  # the header is row 1
        assert words in problems[len(DISTRICT) + 2][column]
        assert Organisation.by_code("QJ-C") is None  # nothing of the good rows either


def test_every_bad_column_of_a_row_is_named_at_once(ctx, tmp_path):
    with ctx():
        problems, _ = run_import(csv_file(tmp_path, [
            ["坏 代码", "", "学校", "", "", "", "大学", "X", "", "1"]]))
    assert set(problems[2]) == {"代码", "名称", "所属热线中心", "学校类型", "定点医院",
                                "绿色通道电话"}


def test_a_hospital_named_before_it_is_defined_is_unknown(ctx, tmp_path):
    with ctx():
        problems, _ = run_import(csv_file(tmp_path, [DISTRICT[0], DISTRICT[3], DISTRICT[1],
                                                     DISTRICT[2]]))
    assert problems == {3: {"定点医院": "没有代码为QJ-H1的医院"}}


def test_the_same_number_for_two_centres_of_one_file_is_refused(ctx, tmp_path):
    twice = [DISTRICT[0], ["QJ-C2", "另一中心", "热线中心", "", "138-0013-8001", "", "", "", "",
                           ""]]
    with ctx():
        problems, _ = run_import(csv_file(tmp_path, twice))
    assert problems == {3: {"热线号码": "+8613800138001已是QJ-C的号码"}}


def test_english_values_are_read_too(ctx, tmp_path):
    english = [["EN-C", "Centre", "hotline_centre", "", "+85221234567", "", "", "", "", ""],
               ["EN-S", "School", "School", "EN-C", "", "", "university", "", "", ""]]
    with ctx():
        assert run_import(csv_file(tmp_path, english)) == ({}, {"created": 2})
        assert Organisation.by_code("EN-S").school_kind == SchoolKind.UNIVERSITY


# -- the command line ---------------------------------------------------------------------

def codes(database_url: str) -> list[str]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        found = connection.execute(text("SELECT code FROM organisations ORDER BY code"))
        result = [row[0] for row in found]
    engine.dispose()
    return result


def test_the_example_district_is_imported_by_the_command_and_again_changes_nothing(
        crisisline, cli_database_url):
    crisisline("init")
    example = ROOT / "examples" / "district" / "organisations.csv"
    first = crisisline("import", "organisations", str(example))
    assert "5 created, 0 updated, 0 unchanged" in first.stdout
    assert {"HOTLINE-CENTRE", "SCH-NO1", "COL-NORMAL", "HOSP-PEOPLE1", "HOSP-MHC"} <= set(
        codes(cli_database_url))
    again = crisisline("import", "organisations", str(example))
    assert "0 created, 0 updated, 5 unchanged" in again.stdout


def test_a_file_with_a_bad_row_exits_1_names_the_row_in_chinese_and_writes_nothing(
        crisisline, cli_database_url, tmp_path):
    crisisline("init")
    path = csv_file(tmp_path, DISTRICT + [["QJ-S9", "学校", "学校", "", "", "", "高中", "", "",
                                           ""]], encoding="gbk")
    result = crisisline("import", "organisations", str(path), check=False,
                        env={"LANG": "zh_CN.UTF-8"})
    assert result.returncode == 1
    assert "第7行 所属热线中心: 学校必须填写所属热线中心" in result.stderr
    assert not any(code.startswith("QJ-") for code in codes(cli_database_url))
    dry = crisisline("import", "organisations", str(csv_file(tmp_path, DISTRICT)), "--dry-run")
    assert "5" in dry.stdout
    assert not any(code.startswith("QJ-") for code in codes(cli_database_url))
