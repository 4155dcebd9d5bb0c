"""Organisations, their structure, users, memberships, teams and API tokens."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisisline.database import Base, db, enum_column, utcnow


class Role(str, enum.Enum):
    VOLUNTEER = "volunteer"
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    HOSPITAL_LIAISON = "hospital_liaison"
    REPORTER = "reporter"
    ADMIN = "admin"


class OrgKind(str, enum.Enum):
    HOTLINE_CENTRE = "hotline_centre"
    SCHOOL = "school"
    HOSPITAL = "hospital"


class HospitalKind(str, enum.Enum):
    """What makes a hospital's recovery certificate eligible for a return to school."""

    GRADE_2A_PSYCHIATRIC_DEPARTMENT = "grade_2a_psychiatric_department"
    SPECIALIST_PSYCHIATRIC = "specialist_psychiatric"
    BRAIN_HOSPITAL = "brain_hospital"
    GENERAL = "general"


class SchoolKind(str, enum.Enum):
    PRIMARY = "primary"  # 小学
    JUNIOR_HIGH = "junior_high"  # 初中
    SENIOR_HIGH = "senior_high"  # 高中
    VOCATIONAL = "vocational"  # 中职
    UNIVERSITY = "university"  # 高校


class UnitKind(str, enum.Enum):
    DEPARTMENT = "department"  # 院系 (college)
    GRADE = "grade"  # 年级 (school)
    CLASS = "class"  # 班级, under a department or grade
    BUILDING = "building"  # 宿舍楼
    DORMITORY = "dormitory"  # 宿舍 (a room), under its building


class ReporterIdentity(str, enum.Enum):
    """Who a school reporter is in the four-level network, and the unit kind they sit in
    (``REPORTER_UNITS``)."""

    HEAD_TEACHER = "head_teacher"  # 班主任
    COUNSELOR_TEACHER = "counselor_teacher"  # 辅导员
    CLASS_COMMITTEE = "class_committee"  # 班级心理委员
    DORMITORY_INFORMANT = "dormitory_informant"  # 宿舍心理信息员
    DEPARTMENT_HEAD = "department_head"  # 院系负责人
    PSYCHOLOGY_CENTRE = "psychology_centre"  # 学校心理中心教师


# the units each identity may belong to (None: the whole school, no unit)
REPORTER_UNITS: dict[ReporterIdentity, frozenset[UnitKind | None]] = {
    ReporterIdentity.HEAD_TEACHER: frozenset({UnitKind.CLASS}),
    ReporterIdentity.COUNSELOR_TEACHER: frozenset({UnitKind.DEPARTMENT, UnitKind.GRADE,
                                                   UnitKind.CLASS}),
    ReporterIdentity.CLASS_COMMITTEE: frozenset({UnitKind.CLASS}),
    ReporterIdentity.DORMITORY_INFORMANT: frozenset({UnitKind.BUILDING, UnitKind.DORMITORY}),
    ReporterIdentity.DEPARTMENT_HEAD: frozenset({UnitKind.DEPARTMENT, UnitKind.GRADE}),
    ReporterIdentity.PSYCHOLOGY_CENTRE: frozenset({None}),
}


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(enum_column(OrgKind, "org_kind"))
    # the hotline centre a school or hospital works with
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    # a centre's: where calls roll over when nobody answers (E.164)
    backup_line: Mapped[str | None] = mapped_column(String(32))
    # a school's: 小学/初中/高中/中职/高校
    school_kind: Mapped[SchoolKind | None] = mapped_column(
        enum_column(SchoolKind, "school_kind"))
    # a hospital's category and its green-channel (绿色通道) phone
    hospital_kind: Mapped[HospitalKind | None] = mapped_column(
        enum_column(HospitalKind, "hospital_kind"))
    green_channel_phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    units: Mapped[list[SchoolUnit]] = relationship(back_populates="school")
    # a centre's public numbers (E.164), the first is the one it calls and texts from
    numbers: Mapped[list[HotlineNumber]] = relationship(
        back_populates="centre", cascade="all, delete-orphan", order_by="HotlineNumber.id")
    # a school's designated hospitals (定点医院)
    designated_hospitals: Mapped[list[Organisation]] = relationship(
        secondary="designated_hospitals", primaryjoin="Organisation.id == "
        "DesignatedHospital.school_id", secondaryjoin="Organisation.id == "
        "DesignatedHospital.hospital_id", order_by="Organisation.code")

    @property
    def hotline_number(self) -> str | None:
        """The centre's first number: calls and texts to any of its numbers reach it; it
        calls and texts from this one."""
        return self.numbers[0].number if self.numbers else None

    @hotline_number.setter
    def hotline_number(self, number: str | None) -> None:
        if number == self.hotline_number:  # a new row for the same number would collide
            return
        others = [kept for kept in self.numbers[1:] if kept.number != number]
        self.numbers = ([HotlineNumber(number=number)] if number else []) + others

    @classmethod
    def by_code(cls, code: str) -> Organisation | None:
        return db.scalar(select(cls).where(cls.code == code))

    @classmethod
    def by_number(cls, number: str) -> Organisation | None:
        """The hotline centre whose number ``number`` is."""
        return db.scalar(select(cls).join(HotlineNumber, HotlineNumber.centre_id == cls.id)
                         .where(HotlineNumber.number == number))


class HotlineNumber(Base):
    """One public number of a hotline centre: calls and texts to it reach the centre."""

    __tablename__ = "hotline_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)

    centre: Mapped[Organisation] = relationship(back_populates="numbers")


class DesignatedHospital(Base):
    """A school's designated hospital (定点医院)."""

    __tablename__ = "designated_hospitals"

    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class SchoolUnit(Base):
    """One node of the four-level school network: department/grade, class, dormitory."""

    __tablename__ = "school_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    kind: Mapped[UnitKind] = mapped_column(enum_column(UnitKind, "unit_kind"))
    name: Mapped[str] = mapped_column(String(120))

    school: Mapped[Organisation] = relationship(back_populates="units")
    parent: Mapped[SchoolUnit | None] = relationship(remote_side=[id])

    @property
    def path(self) -> str:
        """The unit's place in its school, e.g. "计算机学院/2023级1班"."""
        return f"{self.parent.path}/{self.name}" if self.parent else self.name


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255), info={"sensitive": True})
    phone: Mapped[str | None] = mapped_column(String(32), info={"sensitive": True})
    language: Mapped[str] = mapped_column(String(10), default="zh_Hans_CN")
    # the languages they take contacts in ("zh", "zh,en"): routing offers them those
    languages: Mapped[str] = mapped_column(String(40), default="zh")
    # a school reporter's place in the network (with their unit, on their membership)
    reporter_identity: Mapped[ReporterIdentity | None] = mapped_column(
        enum_column(ReporterIdentity, "reporter_identity"))
    # a temporary password (a new or reset user's) must be changed at the next sign-in
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # two-factor sign-in (TOTP): the shared secret, and when it was turned on
    totp_secret: Mapped[str | None] = mapped_column(String(64), info={"sensitive": True})
    totp_enabled_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user",
                                                         cascade="all, delete-orphan")
    # the key of the sign-in (UserSession) this instance was loaded for: what Flask-Login
    # keeps in the cookie; not a column
    session_key = None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.disabled_at is None

    def get_id(self) -> str:
        """What Flask-Login keeps in the cookie: the sign-in's key, never the user's id, so
        ending that sign-in on the server ends every copy of the cookie."""
        if self.session_key is None:
            raise RuntimeError("a user is signed in through accounts.services.start_session")
        return self.session_key

    def organisation_ids(self, kind: OrgKind | None = None) -> set[int]:
        return {m.organisation_id for m in self.memberships
                if kind is None or m.organisation.kind == kind}

    @property
    def centre_ids(self) -> set[int]:
        return self.organisation_ids(OrgKind.HOTLINE_CENTRE)

    @classmethod
    def by_username(cls, username: str) -> User | None:
        return db.scalar(select(cls).where(func.lower(cls.username) == username.lower()))


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # a school reporter's unit in that school (None: the whole school)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    unit: Mapped[SchoolUnit | None] = relationship()


class Team(Base):
    """A team of a hotline centre, such as the on-duty counselors (值班组)."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("centre_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))

    members: Mapped[list[User]] = relationship(secondary="team_members")


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"sensitive": True})
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # updated at most once a minute, not on every request
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class SignInLink(Base):
    """A one-time sign-in link for a new or reset user: valid 24 hours, used once, after
    which they set a password. Only its SHA-256 is stored; the link is shown once."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class UserSession(Base):
    """One sign-in in one browser. The session cookie carries a random key; only its
    SHA-256 is stored. Signing out ends this row (other sign-ins go on); disabling the
    user ends all of theirs. An ended row is never accepted again."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"sensitive": True})
    source_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # updated at most once a minute, not on every request
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))  # sign_out, user_disabled

    user: Mapped[User] = relationship()
