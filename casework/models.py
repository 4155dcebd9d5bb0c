"""Students, guardians, crisis cases, hospital referrals and school reports."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisisline.accounts.models import Organisation
from crisisline.database import Base, enum_column, utcnow


class RiskLevel(str, enum.Enum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"


class CaseSource(str, enum.Enum):
    HOTLINE_CONTACT = "hotline_contact"
    SCHOOL_REPORT = "school_report"
    SCREENING = "screening"
    PARENT = "parent"
    HOSPITAL = "hospital"
    OTHER = "other"


class ReportKind(str, enum.Enum):
    AT_RISK = "at_risk"  # a student at risk, reported by the school network
    DAILY = "daily"  # 日报告
    ZERO = "zero"  # 零报告: nothing happened today, said explicitly


class Student(Base):
    """One file per student (一生一案)."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80), info={"sensitive": True})
    birth_date: Mapped[date | None] = mapped_column(Date, info={"sensitive": True})
    class_unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    dormitory_unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()
    guardians: Mapped[list[Guardian]] = relationship(back_populates="student",
                                                     cascade="all, delete-orphan")
    cases: Mapped[list[Case]] = relationship(back_populates="student")


class Guardian(Base):
    __tablename__ = "guardians"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    name: Mapped[str] = mapped_column(String(80), info={"sensitive": True})
    relation: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(32), info={"sensitive": True})

    student: Mapped[Student] = relationship(back_populates="guardians")


class Case(Base):
    """A crisis case; its ``state`` is driven by the workflow in ``state_machines``."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    source: Mapped[CaseSource] = mapped_column(enum_column(CaseSource, "case_source"))
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"))
    state: Mapped[str] = mapped_column(String(40), default="reported", index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    student: Mapped[Student | None] = relationship(back_populates="cases")
    referrals: Mapped[list[Referral]] = relationship(back_populates="case")

    __mapper_args__ = {"version_id_col": version}


class Referral(Base):
    """A referral of a case to a hospital (转介); the hospital's liaison sees only these."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    arrived_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(back_populates="referrals")
    hospital: Mapped[Organisation] = relationship()


class SchoolReport(Base):
    """A report from the school network: a student at risk, or a daily/zero report."""

    __tablename__ = "school_reports"
    __audit_name__ = "school_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[ReportKind] = mapped_column(enum_column(ReportKind, "report_kind"))
    report_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    student: Mapped[Student | None] = relationship()
