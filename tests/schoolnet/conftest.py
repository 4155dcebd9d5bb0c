"""A school's four-level network for the school network's tests."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from casework.models import Student
from crisisline.accounts.models import (Membership, ReporterIdentity, Role, SchoolUnit,
                                        UnitKind, User)
from tests.world import PASSWORD


NETWORK = {  # username suffix: (identity, unit key)
    "c1_committee": (ReporterIdentity.CLASS_COMMITTEE, "C1"),
    "c1_head": (ReporterIdentity.HEAD_TEACHER, "C1"),
    "c2_committee": (ReporterIdentity.CLASS_COMMITTEE, "C2"),
    "d_counsellor": (ReporterIdentity.COUNSELOR_TEACHER, "D"),
    "d_head": (ReporterIdentity.DEPARTMENT_HEAD, "D"),
    "e_head": (ReporterIdentity.DEPARTMENT_HEAD, "E"),
    "r_dorm": (ReporterIdentity.DORMITORY_INFORMANT, "R"),
    "centre": (ReporterIdentity.PSYCHOLOGY_CENTRE, None),
}


@dataclass
class Network:
    student_c1: int  # the world's 学生甲, in class C1 and dormitory R
    student_c2: int
    units: dict[str, int]  # D (C1, C2), E (C3, whose class has no committee member), R


@pytest.fixture
def network(ctx, world) -> Network:
    """School S: department D with classes C1 and C2, department E, building B with room
    R; a reporter in each place."""
    from crisisline.accounts.services import hash_password
    school = world.orgs["S"]
    with ctx() as db:
        def unit(kind, name, parent=None):
            made = SchoolUnit(school_id=school.id, kind=kind, name=name,
                              parent_id=parent.id if parent else None)
            db.add(made)
            db.flush()
            return made
        d = unit(UnitKind.DEPARTMENT, "心理学院")
        units = {"D": d, "C1": unit(UnitKind.CLASS, "1班", d), "C2": unit(UnitKind.CLASS, "2班", d),
                 "E": unit(UnitKind.DEPARTMENT, "文学院")}
        units["C3"] = unit(UnitKind.CLASS, "3班", units["E"])
        units["R"] = unit(UnitKind.DORMITORY, "101", unit(UnitKind.BUILDING, "1号楼"))
        password = hash_password(PASSWORD)
        for name, (identity, key) in NETWORK.items():
            db.add(User(username=f"t_{name}", display_name=name, role=Role.REPORTER,
                        password_hash=password, reporter_identity=identity,
                        memberships=[Membership(organisation_id=school.id,
                                                unit_id=units[key].id if key else None)]))
        student = db.get(Student, world.records["student"].id)
        student.class_unit_id, student.dormitory_unit_id = units["C1"].id, units["R"].id
        other = Student(school_id=school.id, student_number="t_C2", name="学生乙",
                        class_unit_id=units["C2"].id)
        db.add(other)
        db.commit()
        return Network(student.id, other.id, {key: made.id for key, made in units.items()})
