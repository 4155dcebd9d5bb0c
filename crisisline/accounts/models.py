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


class UnitKind(str, enum.Enum):
    DEPARTMENT = "department"  # 院系 (college)
    GRADE = "grade"  # 年级 (school)
    CLASS = "class"  # 班级
    DORMITORY = "dormitory"  # 宿舍


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(enum_column(OrgKind, "org_kind"))
    # a hotline centre's public number (E.164): calls and texts to it reach this centre
    hotline_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    # the hotline centre a school or hospital works with
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    hospital_kind: Mapped[HospitalKind | None] = mapped_column(
        enum_column(HospitalKind, "hospital_kind"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    units: Mapped[list[SchoolUnit]] = relationship(back_populates="school")

    @classmethod
    def by_code(cls, code: str) -> Organisation | None:
        return db.scalar(select(cls).where(cls.code == code))


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


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255), info={"sensitive": True})
    phone: Mapped[str | None] = mapped_column(String(32), info={"sensitive": True})
    language: Mapped[str] = mapped_column(String(10), default="zh_Hans_CN")
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(lazy="joined")


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
