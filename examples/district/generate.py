"""Write the example district files (run from the repository root):

    .venv/bin/python examples/district/generate.py

They are files as a centre and its schools keep them: the organisations as UTF-8 CSV
(with the BOM Excel writes), the staff as GBK CSV (what Excel on Chinese Windows saves),
one school's students as GBK CSV and the other's as XLSX. The names are made up; the
random choices are seeded, so running it again writes the same files. The demo
(``crisisline seed-demo``) imports them.
"""
from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
STUDENTS_PER_CLASS = 28

ORGANISATIONS = [
    # 代码, 名称, 类型, 所属热线中心, 热线号码, 备用线路, 学校类型, 定点医院, 医院类别, 绿色通道电话
    ["HOTLINE-CENTRE", "省学生心理危机干预热线中心", "热线中心", "", "+861088880000;+861088880001",
     "+8612356", "", "", "", ""],
    ["HOSP-PEOPLE1", "市第一人民医院精神科", "医院", "HOTLINE-CENTRE", "", "", "", "",
     "二甲及以上综合医院精神科", "010-88881234"],
    ["HOSP-MHC", "市精神卫生中心", "医院", "HOTLINE-CENTRE", "", "", "", "", "精神专科医院",
     "010-88885678"],
    ["SCH-NO1", "市第一中学", "学校", "HOTLINE-CENTRE", "", "", "初中", "HOSP-PEOPLE1;HOSP-MHC",
     "", ""],
    ["COL-NORMAL", "师范学院", "学校", "HOTLINE-CENTRE", "", "", "高校", "HOSP-MHC", "", ""],
]
ORGANISATION_HEADER = ["代码", "名称", "类型", "所属热线中心", "热线号码", "备用线路", "学校类型",
                       "定点医院", "医院类别", "绿色通道电话"]

USERS_HEADER = ["用户名", "姓名", "角色", "所属机构", "单位", "报告人身份", "手机", "语言",
                "值班组"]
USERS = [
    ["vol.liu", "刘晓", "志愿者", "HOTLINE-CENTRE", "", "", "13800001001", "zh", ""],
    ["vol.chen", "陈思远", "志愿者", "HOTLINE-CENTRE", "", "", "13800001002", "zh;en", ""],
    ["coun.wang", "王静", "值班咨询师", "HOTLINE-CENTRE", "", "", "13800001003", "zh", "值班组"],
    ["sup.zhao", "赵国庆", "督导", "HOTLINE-CENTRE", "", "", "13800001004", "zh", ""],
    ["liaison.mhc", "何医生", "医院联络员", "HOSP-MHC", "", "", "13800001005", "zh", ""],
    ["no1.head.c1", "孙丽", "学校报告人", "SCH-NO1", "初一/1班", "班主任", "13800001006", "zh", ""],
    ["no1.centre", "钱老师", "学校报告人", "SCH-NO1", "", "学校心理中心教师", "13800001007", "zh",
     ""],
    ["no1.c1.committee", "林晨", "学校报告人", "SCH-NO1", "初一/1班", "班级心理委员", "13800001010",
     "zh", ""],
    ["no1.c2.committee", "黄悦", "学校报告人", "SCH-NO1", "初一/2班", "班级心理委员", "13800001011",
     "zh", ""],
    ["no1.grade1", "马主任", "学校报告人", "SCH-NO1", "初一", "院系负责人", "13800001012", "zh",
     ""],
    ["col.cs.counsellor", "周敏", "学校报告人", "COL-NORMAL", "计算机学院", "辅导员", "13800001008",
     "zh", ""],
    ["col.dorm.3", "吴楠", "学校报告人", "COL-NORMAL", "桃李苑/3-204", "宿舍心理信息员",
     "13800001009", "zh", ""],
]

STUDENTS_HEADER = ["学校代码", "学号", "姓名", "性别", "出生日期", "院系/年级", "班级", "宿舍",
                   "监护人1姓名", "监护人1关系", "监护人1电话", "监护人2姓名", "监护人2关系",
                   "监护人2电话", "特殊群体"]

# the demo's own students, whom its cases are about (and tests name)
DEMO_STUDENTS = [
    ("SCH-NO1", "2023010101", "王小明", "男", date(2011, 3, 14), "王建华", "父亲", "13800000101"),
    ("SCH-NO1", "2023010102", "李思雨", "女", date(2011, 7, 2), "李红", "母亲", "13800000102"),
    ("SCH-NO1", "2022010201", "赵子涵", "女", date(2010, 1, 20), "赵强", "父亲", "13800000103"),
    ("SCH-NO1", "2021010301", "陈一凡", "男", date(2009, 11, 5), "陈梅", "母亲", "13800000104"),
    ("COL-NORMAL", "24030101", "刘佳怡", "女", date(2006, 5, 18), "刘军", "父亲", "13800000105"),
    ("COL-NORMAL", "24030102", "黄俊杰", "男", date(2006, 9, 9), "黄丽", "母亲", "13800000106"),
    ("COL-NORMAL", "24050201", "吴欣然", "女", date(2005, 12, 30), "吴斌", "父亲", "13800000107"),
    ("COL-NORMAL", "24050202", "孙浩宇", "男", date(2006, 2, 11), "孙芳", "母亲", "13800000108"),
    ("SCH-NO1", "2022010202", "周雨桐", "女", date(2010, 4, 8), "周伟", "父亲", "13800000109"),
    ("SCH-NO1", "2021010302", "郑晓东", "男", date(2009, 8, 21), "郑敏", "母亲", "13800000110"),
    ("COL-NORMAL", "24030103", "马文博", "男", date(2006, 3, 3), "马丽", "母亲", "13800000111"),
    ("COL-NORMAL", "24050203", "林可欣", "女", date(2005, 10, 16), "林涛", "父亲", "13800000112"),
]
SCHOOLS = {  # code: (units, classes in each, dormitories, year of birth of the youngest)
    "SCH-NO1": (["初一", "初二", "初三"], ["1班", "2班", "3班", "4班", "5班"],
                ["1号楼/101", "1号楼/102", "2号楼/201", "2号楼/202"], 2011),
    "COL-NORMAL": (["心理学院", "计算机学院", "文学院"], ["2024级1班", "2024级2班", "2023级1班",
                                                   "2023级2班", "2022级1班", "2022级2班"],
                   ["桃李苑/3-204", "桃李苑/3-205", "杏林苑/1-101", "杏林苑/1-102"], 2006),
}
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
            "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
            "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = ("子涵欣怡梓轩浩然雨桐宇航思远一诺佳琪俊杰晓东嘉怡雅琪博文天佑明轩若曦诗涵语嫣泽宇"
         "梓萱皓轩欣然可馨书瑶辰逸")
GROUPS = ["留守儿童", "流动儿童", "孤儿或事实无人抚养", "残疾", "家庭经济困难"]


def students(rng: random.Random) -> dict[str, list[list[str]]]:
    rows = {code: [] for code in SCHOOLS}
    for school, number, name, gender, born, guardian, relation, phone in DEMO_STUDENTS:
        units, classes, dorms, _year = SCHOOLS[school]
        rows[school].append([school, number, name, gender, born.isoformat(), units[0],
                             classes[0], dorms[0], guardian, relation, phone, "", "", "", ""])
    serial = 0
    for school, (units, classes, dorms, youngest) in SCHOOLS.items():
        for grade, unit in enumerate(units):
            for class_name in classes:
                for _ in range(STUDENTS_PER_CLASS if school == "SCH-NO1" else 30):
                    serial += 1
                    surname = rng.choice(SURNAMES)
                    given = "".join(rng.sample(GIVEN, rng.choice((1, 2))))
                    gender = rng.choice(("男", "女"))
                    born = date(youngest - grade, 1, 1) + timedelta(days=rng.randrange(365))
                    father, mother = surname + rng.choice("建国志强伟军勇"), \
                        rng.choice(SURNAMES) + rng.choice("丽红梅芳敏静")
                    second = rng.random() < 0.6
                    groups = ";".join(rng.sample(GROUPS, 1)) if rng.random() < 0.08 else ""
                    born_text = born.isoformat() if serial % 3 else \
                        f"{born.year}/{born.month}/{born.day}"  # as Excel users type it
                    rows[school].append([
                        school, f"{'S' if school == 'SCH-NO1' else 'C'}{serial:06d}",
                        surname + given, gender, born_text, unit, class_name, rng.choice(dorms),
                        father, "父亲", f"139{rng.randrange(10**8):08d}",
                        mother if second else "", "母亲" if second else "",
                        f"137{rng.randrange(10**8):08d}" if second else "", groups])
    return rows


def write_csv(path: Path, header, rows, encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_xlsx(path: Path, header, rows) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "学生名单"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)


def main() -> None:
    rng = random.Random(20261207)
    write_csv(HERE / "organisations.csv", ORGANISATION_HEADER, ORGANISATIONS, "utf-8-sig")
    write_csv(HERE / "users.csv", USERS_HEADER, USERS, "gbk")
    rows = students(rng)
    write_csv(HERE / "students-SCH-NO1.csv", STUDENTS_HEADER, rows["SCH-NO1"], "gbk")
    write_xlsx(HERE / "students-COL-NORMAL.xlsx", STUDENTS_HEADER, rows["COL-NORMAL"])
    print({name: len(value) for name, value in rows.items()})


if __name__ == "__main__":
    main()
