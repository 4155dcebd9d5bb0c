"""The import mechanism, whatever the record type: files as schools keep them (UTF-8 with
or without BOM, GBK, XLSX), headers in Chinese or English in any order, every problem
named by row and column, all or nothing, dry runs, and one audit entry per import.

The row schema here is the tests' own (hospitals by code and name), so that the mechanism
is tested apart from the domains' schemas, which have tests of their own.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask_babel import force_locale, lazy_gettext as _l
from openpyxl import Workbook
from sqlalchemy import func, select

from crisisline import audit
from crisisline.accounts.models import Organisation, OrgKind
from crisisline.audit.models import AuditEntry
from crisisline.imports import Column, RowInvalid, RowSchema, import_file
from crisisline.imports import services as imports
from crisisline.messages import shown
from tests.conftest import login
from tests.world import PASSWORD

HEADER = ["代码", "名称"]
ROWS = [["IMP-H1", "第一医院"], ["IMP-H2", "脑科医院"], ["IMP-H3", "精神卫生中心"]]


class HospitalRows(RowSchema):
    kind = "test_hospitals"
    label = _l("Organisations")
    columns = (Column("code", "代码", required=True), Column("name", "名称", required=True),
               Column("phone", "绿色通道电话"))

    def key(self, values):
        return (values["code"],)

    def check(self, row, run):
        problems = {}
        if not re.fullmatch(r"[A-Z0-9-]{2,40}", row["code"]):
            problems["code"] = _l("is missing")
        if not row["name"]:
            problems["name"] = _l("is missing")
        if row["phone"] and not row["phone"].isdigit():
            problems["phone"] = _l("is not a value Twilio sends")
        if problems:
            raise RowInvalid(problems)
        return row

    def save(self, values, run):
        hospital = Organisation.by_code(values["code"])
        if hospital is None:
            hospital = Organisation(code=values["code"], name=values["name"],
                                    kind=OrgKind.HOSPITAL)
            imports.db.add(hospital)
            audit.record("organisation.create", hospital)
            return "created"
        if hospital.name == values["name"]:
            return "unchanged"
        hospital.name = values["name"]
        return "updated"


@pytest.fixture(autouse=True)
def hospital_rows(monkeypatch):
    monkeypatch.setitem(imports.SCHEMAS, HospitalRows.kind, HospitalRows)


def csv_file(tmp_path: Path, rows, *, encoding="utf-8", name="hospitals.csv") -> Path:
    path = tmp_path / name
    text = "\r\n".join(",".join(row) for row in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def xlsx_file(tmp_path: Path, rows) -> Path:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / "hospitals.xlsx"
    book.save(path)
    return path


def hospitals(db) -> dict[str, str]:
    return dict(db.execute(select(Organisation.code, Organisation.name)
                           .where(Organisation.code.like("IMP-%"))).all())


def lines(report) -> list[str]:
    with force_locale("zh_Hans_CN"):
        return [shown(problem.line()) for problem in report.problems]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_a_csv_in_utf8_with_or_without_bom_or_in_gbk_is_read(ctx, tmp_path, encoding):
    with ctx() as db:
        report = import_file("test_hospitals", csv_file(tmp_path, [HEADER, *ROWS],
                                                        encoding=encoding))
        db.commit()
        assert report.ok and report.counts == {"created": 3, "updated": 0, "unchanged": 0}
        assert hospitals(db) == dict(map(tuple, ROWS))


def test_the_first_sheet_of_an_xlsx_workbook_is_read_numbers_as_excel_shows_them(ctx,
                                                                                  tmp_path):
    with ctx() as db:
        report = import_file("test_hospitals", xlsx_file(tmp_path, [
            ["代码", "名称", "绿色通道电话"], ["IMP-X1", "第一医院", 13800138000]]))
        db.commit()
        assert report.ok and report.counts["created"] == 1
        assert hospitals(db) == {"IMP-X1": "第一医院"}


def test_columns_come_in_any_order_by_chinese_or_english_name(ctx, tmp_path):
    with ctx() as db:
        report = import_file("test_hospitals", csv_file(tmp_path, [
            ["name", "代码"], ["第一医院", "IMP-H1"]]))
        assert report.ok and hospitals(db) == {"IMP-H1": "第一医院"}


def test_importing_the_same_file_again_changes_nothing_and_a_changed_row_updates(ctx,
                                                                                   tmp_path):
    with ctx() as db:
        path = csv_file(tmp_path, [HEADER, *ROWS])
        import_file("test_hospitals", path)
        db.commit()
        again = import_file("test_hospitals", path)
        assert again.counts == {"created": 0, "updated": 0, "unchanged": 3}
        changed = import_file("test_hospitals", csv_file(
            tmp_path, [HEADER, ["IMP-H1", "第一人民医院"], *ROWS[1:]], name="changed.csv"))
        assert changed.counts == {"created": 0, "updated": 1, "unchanged": 2}
        assert hospitals(db)["IMP-H1"] == "第一人民医院"


def test_every_bad_row_is_named_by_row_and_column_and_nothing_is_written(ctx, tmp_path):
    with ctx() as db:
        report = import_file("test_hospitals", csv_file(tmp_path, [
            ["代码", "名称", "绿色通道电话"], ["IMP-H1", "第一医院", ""],
            ["bad code", "", "abc"], ["IMP-H3", "第三医院", ""], ["", "无代码", ""]]))
        assert not report.ok
        assert lines(report) == ["第3行 代码: 缺少此项", "第3行 名称: 缺少此项",
                                 "第3行 绿色通道电话: 不是 Twilio 会发送的值",
                                 "第5行 代码: 缺少此项"]
        assert hospitals(db) == {}  # not even the good rows before the bad one


def test_a_record_twice_in_one_file_is_refused_naming_both_rows(ctx, tmp_path):
    with ctx() as db:
        report = import_file("test_hospitals", csv_file(tmp_path, [
            HEADER, ROWS[0], ROWS[1], ROWS[0]]))
        assert lines(report) == ["第4行: 与第2行是同一条记录"]
        assert hospitals(db) == {}


@pytest.mark.parametrize("header, problem", [
    (["代码", "名称", "床位"], "第1行: 未知的列“床位”"),
    (["代码", "名称", "name"], "第1行: 列“name”出现了两次"),
    (["名称"], "第1行: 缺少列“代码”"),
])
def test_a_header_with_an_unknown_repeated_or_missing_column_is_refused(ctx, tmp_path,
                                                                        header, problem):
    with ctx() as db:
        report = import_file("test_hospitals", csv_file(tmp_path, [
            header, ["IMP-H1", "第一医院", "x"][:len(header)]]))
        assert problem in lines(report)
        assert hospitals(db) == {}


def test_blank_rows_are_skipped_and_row_numbers_stay_those_of_the_file(ctx, tmp_path):
    with ctx() as db:
        report = import_file("test_hospitals", csv_file(tmp_path, [
            HEADER, ROWS[0], ["", ""], ["", "无代码"]]))
        assert lines(report) == ["第4行 代码: 缺少此项"]
        assert hospitals(db) == {}


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
                                     b"PK\x03\x04 not really a workbook"])
def test_a_file_that_is_neither_csv_nor_xlsx_is_refused_in_chinese(ctx, tmp_path, content):
    path = tmp_path / "photo.csv"
    path.write_bytes(content)
    with ctx():
        with pytest.raises(imports.UnreadableFile) as refused:
            import_file("test_hospitals", path)
        with force_locale("zh_Hans_CN"):
            assert re.search(r"[\u4e00-\u9fff]", shown(refused.value.message))


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(ctx, tmp_path):
    with ctx() as db:
        before = db.scalar(select(func.count()).select_from(AuditEntry))
        report = import_file("test_hospitals", csv_file(tmp_path, [HEADER, *ROWS]),
                             dry_run=True)
        db.commit()
        assert report.ok and report.counts["created"] == 3
        assert hospitals(db) == {}
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_an_import_is_audited_once_with_its_file_and_counts_beside_each_change(ctx,
                                                                                tmp_path):
    with ctx() as db:
        import_file("test_hospitals", csv_file(tmp_path, [HEADER, *ROWS]),
                    filename="定点医院.csv")
        db.commit()
        [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "import.run"))
        assert entry.changes == {"records": {"new": "test_hospitals"},
                                 "file": {"new": "定点医院.csv"}, "rows": {"new": 3},
                                 "created": {"new": 3}, "updated": {"new": 0},
                                 "unchanged": {"new": 0}}
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "organisation.create",
            AuditEntry.object_id.in_([str(i) for i in db.scalars(
                select(Organisation.id).where(Organisation.code.like("IMP-%")))]))) == 3


# -- the admin's page ----------------------------------------------------------------------

def _token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def _upload(client, path: Path, kind="test_hospitals"):
    page = client.get("/admin/import").get_data(as_text=True)
    with path.open("rb") as handle:
        return client.post("/admin/import/preview", data={
            "csrf_token": _token(page), "kind": kind, "file": (handle, path.name)},
            content_type="multipart/form-data")


def test_the_admin_previews_a_file_then_imports_it(client, ctx, world, tmp_path):
    login(client, "t_admin", PASSWORD)
    preview = _upload(client, csv_file(tmp_path, [HEADER, *ROWS], encoding="gbk"))
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "导入将会" in page and "第一医院" in page
    with ctx() as db:
        assert hospitals(db) == {}  # nothing written by the preview
    upload_id = re.search(r'name="upload" value="([^"]+)"', page).group(1)
    done = client.post("/admin/import/confirm", data={
        "csrf_token": _token(page), "kind": "test_hospitals", "upload": upload_id,
        "filename": "hospitals.csv"})
    assert done.status_code == 200 and "已导入" in done.get_data(as_text=True)
    with ctx() as db:
        assert hospitals(db) == dict(map(tuple, ROWS))


def test_a_bad_file_shows_every_problem_on_the_page_and_writes_nothing(client, ctx, world,
                                                                        tmp_path):
    login(client, "t_admin", PASSWORD)
    answer = _upload(client, csv_file(tmp_path, [HEADER, ROWS[0], ["", "无代码"]]))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "第3行 代码: 缺少此项" in page
    assert 'action="/admin/import/confirm"' not in page
    with ctx() as db:
        assert hospitals(db) == {}


def test_an_unreadable_upload_or_a_missing_choice_is_refused_on_the_form(client, world,
                                                                         tmp_path):
    login(client, "t_admin", PASSWORD)
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK\x03\x04 broken")
    answer = _upload(client, path)
    assert answer.status_code == 422 and "无法读取该 XLSX 工作簿" in answer.get_data(as_text=True)
    answer = _upload(client, csv_file(tmp_path, [HEADER]), kind="reactors")
    assert answer.status_code == 422 and "请选择文件内容的类型" in answer.get_data(as_text=True)


def test_a_forged_upload_name_imports_nothing(client, world):
    login(client, "t_admin", PASSWORD)
    page = client.get("/admin/import").get_data(as_text=True)
    answer = client.post("/admin/import/confirm", data={
        "csrf_token": _token(page), "kind": "test_hospitals", "upload": "../secret_key"})
    assert answer.status_code == 422


@pytest.mark.parametrize("role", ["supervisor", "counselor", "reporter"])
def test_only_admins_import(client, world, role):
    login(client, f"t_{role}", PASSWORD)
    assert client.get("/admin/import").status_code == 403
