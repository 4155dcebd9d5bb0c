"""Importing students: 10,000 rows of a school's file on the embedded default (SQLite).

The system is ``crisisline import students`` as the command line runs it
(``crisisline.imports.import_file``: every row read and checked, then read again, checked
and saved through ``casework.students`` with its units, guardians, special groups and an
audit entry per student, in one transaction, then committed). The same file is then
imported again (every row unchanged). The baseline is a bare ``executemany`` of the same
rows (students and their guardians, already split into columns) into a fresh SQLite file
with sqlite3: what storing the rows costs without reading, checking or auditing them.
"""
from __future__ import annotations

import csv
import random
import sqlite3
import time
from pathlib import Path

from bench import environment as env
from bench.harness import Result, Stats, measured

NAME = "student_import"
SCALES = {"full": {"students": 10_000}, "quick": {"students": 2_000}}
HEADER = ["学校代码", "学号", "姓名", "性别", "出生日期", "院系/年级", "班级", "宿舍",
          "监护人1姓名", "监护人1关系", "监护人1电话", "监护人2姓名", "监护人2关系",
          "监护人2电话", "特殊群体"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彩春菊")
GROUPS = ["", "", "", "", "留守儿童", "流动儿童", "家庭经济困难", "留守儿童；家庭经济困难"]


def _rows(count: int) -> list[list[str]]:
    draw = random.Random(12)
    rows = []
    for n in range(count):
        surname = draw.choice(SURNAMES)
        grade = f"{2021 + n % 4}级"
        rows.append([
            "BENCH-SCHOOL", f"{2021 + n % 4}{n:06d}", surname + "".join(draw.sample(GIVEN, 2)),
            draw.choice("男女"), f"{2008 + n % 4}-{1 + n % 12:02d}-{1 + n % 28:02d}",
            grade, f"{1 + n // 40 % 25}班", f"{1 + n % 20}号楼/{100 + n % 300}",
            surname + "爸爸", "父亲", f"139{n:08d}",
            *(("妈妈" + surname, "母亲", f"138{n:08d}") if n % 2 else ("", "", "")),
            draw.choice(GROUPS)])
    return rows


def run(scale: str) -> list[Result]:
    count = SCALES[scale]["students"]
    with env.workdir(NAME) as folder:
        rows = _rows(count)
        path = folder / "students.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(rows)
        app = _embedded_default(folder)
        first, again = _import(app, path)
        baseline = _executemany(folder / "baseline.sqlite", rows)
    parameters = {"students": count, "database": "SQLite (embedded default)"}
    return [
        measured(NAME, f"{NAME}[{count} rows]", parameters, scale,
                 system=Stats.of([first["seconds"]], first["seconds"] / count),
                 baseline=Stats.of([baseline], baseline / count),
                 baseline_name="bare sqlite3 executemany of the same rows",
                 why=f"{count:,} students checked, saved and audited on SQLite in "
                     f"{first['seconds']:.1f} s ({count / first['seconds']:.0f} rows/s)",
                 extra={"counts": first["counts"],
                        "rows_per_s": round(count / first["seconds"]),
                        "baseline_rows_per_s": round(count / baseline)}),
        measured(NAME, f"{NAME}[{count} rows again, unchanged]", parameters, scale,
                 system=Stats.of([again["seconds"]], again["seconds"] / count),
                 baseline=Stats.of([baseline], baseline / count),
                 baseline_name="bare sqlite3 executemany of the same rows",
                 why=f"the same file again: {count:,} rows checked, none written, in "
                     f"{again['seconds']:.1f} s",
                 extra={"counts": again["counts"],
                        "rows_per_s": round(count / again["seconds"])}),
    ]


def _embedded_default(folder: Path):
    """The application as ``crisisline init`` leaves it with no settings at all: SQLite in
    the instance folder, no Redis."""
    from crisisline import create_app
    from crisisline.cli import upgrade_database
    app = create_app(environ={"CRISISLINE_ENV": "development"},
                     instance_path=folder / "instance")
    upgrade_database(app)
    return app


def _import(app, path: Path) -> tuple[dict, dict]:
    from crisisline.accounts.models import Organisation, OrgKind
    from crisisline.database import db
    from crisisline.imports import import_file
    with env.acting(app):
        centre = Organisation(code="BENCH-CENTRE", name="热线中心", kind=OrgKind.HOTLINE_CENTRE)
        db.add(centre)
        db.flush()
        db.add(Organisation(code="BENCH-SCHOOL", name="基准中学", kind=OrgKind.SCHOOL,
                            centre_id=centre.id))
        db.commit()
    results = []
    for _ in range(2):
        with env.acting(app):
            began = time.perf_counter()
            report = import_file("students", path)
            assert report.ok, [problem.line() for problem in report.problems[:5]]
            db.commit()
            results.append({"seconds": time.perf_counter() - began, "counts": report.counts})
    return results[0], results[1]


def _executemany(path: Path, rows: list[list[str]]) -> float:
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE TABLE students (id INTEGER PRIMARY KEY, school TEXT, student_number TEXT, "
        "name TEXT, gender TEXT, birth_date TEXT, department TEXT, class TEXT, "
        "dormitory TEXT, special_groups TEXT, UNIQUE (school, student_number));"
        "CREATE TABLE guardians (id INTEGER PRIMARY KEY, student_number TEXT, name TEXT, "
        "relation TEXT, phone TEXT);")
    students = [(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[14])
                for row in rows]
    guardians = [(row[1], row[8 + 3 * k], row[9 + 3 * k], row[10 + 3 * k])
                 for row in rows for k in (0, 1) if row[8 + 3 * k]]
    began = time.perf_counter()
    with connection:
        connection.executemany(
            "INSERT INTO students (school, student_number, name, gender, birth_date, "
            "department, class, dormitory, special_groups) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            students)
        connection.executemany("INSERT INTO guardians (student_number, name, relation, phone) "
                               "VALUES (?, ?, ?, ?)", guardians)
    seconds = time.perf_counter() - began
    connection.close()
    return seconds
