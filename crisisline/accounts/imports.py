"""The users import's row schema (``crisisline import users FILE``): one staff member a row,
checked by the same rules as the admin page (``services.check_staff``). A new user gets a
temporary password (or, with ``run.credential == "link"``, a one-time sign-in link), added
to ``run.credentials`` to be written or shown once; an existing username is updated. A duty
team the file names that its centre does not have yet is created (as units are from the
students file), so a district can be set up from files alone."""
from __future__ import annotations

import re
from dataclasses import replace

from flask_babel import lazy_gettext as _l

from crisisline.accounts import services
from sqlalchemy import select

from crisisline.accounts.models import (Organisation, OrgKind, ReporterIdentity, Role, Team,
                                        User)
from crisisline.database import db
from crisisline.i18n import IDENTITY_LABELS
from crisisline.imports import Column, ImportRun, RowInvalid, RowSchema, register

# the words a file may use for a role: the issue's, the interface's labels, the code names
ROLE_WORDS = {"志愿者": Role.VOLUNTEER, "热线志愿者": Role.VOLUNTEER,
              "值班咨询师": Role.COUNSELOR, "值班心理咨询师": Role.COUNSELOR,
              "督导": Role.SUPERVISOR, "医院联络员": Role.HOSPITAL_LIAISON,
              "学校报告人": Role.REPORTER, "系统管理员": Role.ADMIN,
              **{role.value: role for role in Role}}
IDENTITY_WORDS = {"班主任": ReporterIdentity.HEAD_TEACHER,
                  "辅导员": ReporterIdentity.COUNSELOR_TEACHER,
                  "班级心理委员": ReporterIdentity.CLASS_COMMITTEE,
                  "心理委员": ReporterIdentity.CLASS_COMMITTEE,
                  "宿舍心理信息员": ReporterIdentity.DORMITORY_INFORMANT,
                  "院系负责人": ReporterIdentity.DEPARTMENT_HEAD,
                  "学校心理中心教师": ReporterIdentity.PSYCHOLOGY_CENTRE,
                  **{identity.value: identity for identity in ReporterIdentity}}
SEPARATORS = re.compile(r"[;,，；、/\s]+")
# a field of services.check_staff -> the column that holds it
COLUMN_OF = {"display_name": "name"}


def _new_team(details: services.StaffDetails) -> bool:
    """Does the row name a duty team its hotline centre does not have yet?"""
    if not details.team or details.role not in services.CENTRE_ROLES:
        return False
    centre = Organisation.by_code(details.organisation)
    return centre is not None and centre.kind == OrgKind.HOTLINE_CENTRE and db.scalar(
        select(Team.id).where(Team.centre_id == centre.id, Team.name == details.team)) is None


@register
class UserRows(RowSchema):
    kind = "users"
    label = _l("Staff")
    columns = (Column("username", "用户名", required=True),
               Column("name", "姓名", required=True),
               Column("role", "角色", required=True),
               Column("organisation", "所属机构"),
               Column("unit", "单位"),
               Column("identity", "报告人身份"),
               Column("phone", "手机"),
               Column("languages", "语言"),
               Column("team", "值班组"))

    def key(self, values: dict) -> tuple:
        return (values["username"].lower(),)

    def check(self, row: dict[str, str], run: ImportRun) -> dict:
        problems = {}
        username = row.get("username", "")
        if not services.USERNAME.match(username):
            problems["username"] = _l("letters, digits, '.', '_' and '-' only, at most 80 "
                                      "characters")
        role = ROLE_WORDS.get(row.get("role", ""))
        if role is None:
            problems["role"] = _l("unknown role '%(role)s': 志愿者, 值班咨询师, 督导, 医院联络员, "
                                  "学校报告人 or 系统管理员", role=row.get("role", ""))
        identity = IDENTITY_WORDS.get(row.get("identity", ""))
        if row.get("identity") and identity is None:
            problems["identity"] = _l("unknown reporter identity '%(name)s': %(names)s",
                                      name=row["identity"], names="、".join(
                                          str(label) for label in IDENTITY_LABELS.values()))
        details = services.StaffDetails(
            display_name=row.get("name", ""), role=role.value if role else "",
            organisation=row.get("organisation", ""), unit=row.get("unit", ""),
            identity=identity.value if identity else "", phone=row.get("phone", ""),
            languages=tuple(SEPARATORS.split(row.get("languages") or "zh")),
            team=row.get("team", ""))
        new_team = _new_team(details)
        if role is not None:
            _place, found = services.check_staff(
                replace(details, team="") if new_team else details)
            for field, problem in found.items():
                problems.setdefault(COLUMN_OF.get(field, field), problem)
        if problems:
            raise RowInvalid(problems)
        return {"username": username, "details": details, "new_team": new_team}

    def save(self, values: dict, run: ImportRun) -> str:
        if values["new_team"] and _new_team(values["details"]):  # not made by an earlier row
            from crisisline.district.services import create_team
            create_team(values["details"].organisation, values["details"].team)
        user = User.by_username(values["username"])
        if user is None:
            user, secret = services.create_staff(
                values["username"], values["details"],
                credential=getattr(run, "credential", None) or "password")
            run.credentials.append((user.username, secret))
            return "created"
        return "updated" if services.update_staff(user.id, values["details"]) else "unchanged"
