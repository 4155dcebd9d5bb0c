"""The organisations row schema: hotline centres, schools and hospitals from a file.

``crisisline import organisations FILE``; one row an organisation, its code the natural
key (importing the same file again changes nothing; a changed row updates the record).
A row may name a centre or a hospital defined by an earlier row of the same file.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from crisisline.accounts.models import OrgKind
from crisisline.district import services
from crisisline.errors import InvalidInput
from crisisline.i18n import ORG_KIND_LABELS, choice_named
from crisisline.imports import Column, ImportRun, RowInvalid, RowSchema, register
from crisisline.messages import listing


@register
class OrganisationRows(RowSchema):
    kind = "organisations"
    label = _l("Hotline centres, schools and hospitals")
    columns = (
        Column("code", "代码", required=True),
        Column("name", "名称", required=True),
        Column("kind", "类型", required=True),  # 热线中心/学校/医院
        Column("centre", "所属热线中心"),  # schools (required), hospitals
        Column("hotline_numbers", "热线号码"),  # centres; several separated by ; or ；
        Column("backup_line", "备用线路"),  # centres
        Column("school_kind", "学校类型"),  # 小学/初中/高中/中职/高校
        Column("designated_hospitals", "定点医院"),  # schools: hospital codes, by ;
        Column("hospital_category", "医院类别"),
        Column("green_channel_phone", "绿色通道电话"),
    )

    def key(self, values: dict) -> tuple:
        return (values["code"],)

    def check(self, row: dict[str, str], run: ImportRun) -> dict:
        """The row as :func:`services.clean_organisation` makes it, checked against the
        database and the earlier rows (``run.seen["organisations"]``: each code's kind and
        each hotline number's centre, nothing more)."""
        seen = run.seen.setdefault("organisations", {"codes": {}, "numbers": {}})
        known = services.Known(codes=seen["codes"], numbers=seen["numbers"])
        kind = choice_named(ORG_KIND_LABELS, row.get("kind", ""))
        if kind is None:
            problems = {"kind": _l("choose one of: %(choices)s",
                                   choices=listing(list(ORG_KIND_LABELS.values())))}
            try:  # the code and name are still checked, so the row's every problem is named
                services.clean_organisation(OrgKind.HOTLINE_CENTRE, {
                    "code": row.get("code", ""), "name": row.get("name", "")}, known=known)
            except InvalidInput as error:
                problems |= {field: problem for field, problem in error.fields.items()
                             if field in ("code", "name")}
            raise RowInvalid(problems)
        try:
            clean = services.clean_organisation(kind, row, known=known)
        except InvalidInput as error:
            raise RowInvalid(error.fields) from None
        seen["codes"][clean["code"]] = clean["kind"]
        for number in clean.get("hotline_numbers", ()):
            seen["numbers"][number] = clean["code"]
        return clean

    def save(self, values: dict, run: ImportRun) -> str:
        return services.save_organisation(values)[1]
