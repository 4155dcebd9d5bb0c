"""Students, guardians, crisis cases and hospital referrals."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (JSON, Date, ForeignKey, Index, LargeBinary, String, Text,
                        UniqueConstraint, event, false)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship, validates

from crisisline.accounts.models import Organisation, SchoolUnit, User
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


class Gender(str, enum.Enum):
    MALE = "male"
    FEMALE = "female"


class SpecialGroup(str, enum.Enum):
    """Groups the policy asks schools to watch with particular care."""

    LEFT_BEHIND = "left_behind"  # 留守儿童
    MIGRANT = "migrant"  # 流动儿童
    ORPHANED = "orphaned"  # 孤儿或事实无人抚养
    DISABLED = "disabled"  # 残疾
    LOW_INCOME = "low_income"  # 家庭经济困难


class Student(Base):
    """One file per student (一生一案)."""

    __tablename__ = "students"
    # a school's 学号 names one student: the import's natural key
    __table_args__ = (UniqueConstraint("school_id", "student_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80), info={"sensitive": True})
    gender: Mapped[Gender | None] = mapped_column(enum_column(Gender, "gender"))
    birth_date: Mapped[date | None] = mapped_column(Date, info={"sensitive": True})
    class_unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    dormitory_unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()
    guardians: Mapped[list[Guardian]] = relationship(back_populates="student",
                                                     cascade="all, delete-orphan",
                                                     order_by="Guardian.id")
    cases: Mapped[list[Case]] = relationship(back_populates="student")
    class_unit: Mapped[SchoolUnit | None] = relationship(foreign_keys=[class_unit_id])
    dormitory_unit: Mapped[SchoolUnit | None] = relationship(foreign_keys=[dormitory_unit_id])
    group_rows: Mapped[list[StudentGroup]] = relationship(cascade="all, delete-orphan")

    @property
    def special_groups(self) -> list[SpecialGroup]:
        return sorted((row.group for row in self.group_rows), key=list(SpecialGroup).index)

    @special_groups.setter
    def special_groups(self, groups) -> None:
        kept = {row.group: row for row in self.group_rows}
        self.group_rows = [kept.get(group) or StudentGroup(group=group) for group in set(groups)]


class StudentGroup(Base):
    """A student's membership of a special group (特殊群体)."""

    __tablename__ = "student_groups"

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True)
    group: Mapped[SpecialGroup] = mapped_column(enum_column(SpecialGroup, "special_group"),
                                                primary_key=True)


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
    # a student's cases, and a school's cases in one state (the case list's filter)
    __table_args__ = (Index("ix_cases_student_state", "student_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    source: Mapped[CaseSource] = mapped_column(enum_column(CaseSource, "case_source"))
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"))
    state: Mapped[str] = mapped_column(String(40), default="reported", index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    # what the workflow's events established, kept on the case for lists and rules
    responder: Mapped[str | None] = mapped_column(String(120))
    watcher: Mapped[str | None] = mapped_column(String(120))  # 即时监护: continuous watch
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    legal_basis: Mapped[str | None] = mapped_column(String(40))
    danger_to_others: Mapped[bool] = mapped_column(default=False, server_default=false())
    # 日报告/零报告 required
    daily_reports: Mapped[bool] = mapped_column(default=False, server_default=false())
    leave_kind: Mapped[str | None] = mapped_column(String(20))
    leave_expected_end: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None]
    # everyone who has ever owned the case, the current owner too (kept by the listener
    # below, whichever way the owner changes): none of them may close it
    past_owner_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    student: Mapped[Student | None] = relationship(back_populates="cases")
    referrals: Mapped[list[Referral]] = relationship(back_populates="case")
    history: Mapped[list[CaseHistory]] = relationship(order_by="CaseHistory.id",
                                                      back_populates="case")

    __mapper_args__ = {"version_id_col": version}


@event.listens_for(Case.owner_id, "set")
def _remember_owner(case: Case, owner_id: int | None, *_args) -> None:
    if owner_id is not None and owner_id not in (case.past_owner_ids or []):
        case.past_owner_ids = sorted({*(case.past_owner_ids or []), owner_id})


class Referral(Base):
    """A referral of a case to a hospital (转介); the hospital's liaison sees only these."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # the staff member who goes with the student (the hospital calls them on arrival)
    escort_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    arrived_at: Mapped[datetime | None]
    discharged_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(back_populates="referrals")
    hospital: Mapped[Organisation] = relationship()
    escort: Mapped[User | None] = relationship()


class CaseHistory(Base):
    """One applied workflow event: who, when, from where to where, with what data."""

    __tablename__ = "case_history"
    __audit_name__ = "case_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="history")


class CaseNote(Base):
    __tablename__ = "case_notes"
    __audit_name__ = "case_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text, info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocumentKind(str, enum.Enum):
    SCHOOL_CONSENT_FORM = "school_consent_form"  # 学校送医同意书
    GUARDIAN_ACKNOWLEDGEMENT = "guardian_acknowledgement"  # refusal of admission, signed
    PARENT_NOTICE = "parent_notice"  # 家长告知书
    RECOVERY_CERTIFICATE = "recovery_certificate"  # 康复证明
    RETURN_APPLICATION = "return_application"  # 复学申请
    DIAGNOSIS = "diagnosis"
    OTHER = "other"


class CaseDocument(Base):
    """A signed form or certificate; the file is kept in the database with the case, so a
    document and the step that needs it are committed together or not at all."""

    __tablename__ = "case_documents"
    __audit_name__ = "case_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind, "document_kind"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    issued_by_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, info={"sensitive": True}))

    issued_by_hospital: Mapped[Organisation | None] = relationship()


class FollowUpKind(str, enum.Enum):
    PHONE = "phone"
    INTERVIEW = "interview"  # 监护性访谈
    HOME_VISIT = "home_visit"  # 家访


class FollowUpContact(Base):
    __tablename__ = "follow_up_contacts"
    __audit_name__ = "follow_up_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[FollowUpKind] = mapped_column(enum_column(FollowUpKind, "follow_up_kind"))
    outcome: Mapped[str] = mapped_column(Text, info={"sensitive": True})
    occurred_at: Mapped[datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship()


class GuardianContactAttempt(Base):
    """A try to reach the guardian; the school-consent path needs them logged."""

    __tablename__ = "guardian_contact_attempts"
    __audit_name__ = "guardian_contact_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardians.id"))
    attempted_at: Mapped[datetime]
    reached: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class DeadlineStatus(str, enum.Enum):
    PENDING = "pending"
    MET = "met"  # the awaited step happened in time
    FIRED = "fired"  # it did not: alerts were raised
    CANCELLED = "cancelled"  # the case moved on or closed


# every kind of deadline, with the policy's delay for it (None: always scheduled with its
# due time); a missed one raises the alert ``missed_<kind>`` (casework.alerts)
DEADLINE_KINDS: dict[str, str | None] = {
    "responder_on_site": "responder_on_site_minutes",
    "guardian_reached": "guardian_reached_minutes",
    "hospital_arrival": "hospital_arrival_hours",
    "first_follow_up": "first_follow_up_hours",
    "follow_up": None,
    "outpatient_follow_up": "outpatient_follow_up_days",
    "daily_report": "daily_report_hours",
    # still missing after the school's reporters were told: the owner and supervisors are
    "daily_report_escalation": "daily_report_escalation_hours",
    "leave_ending": None,
    "key_period_review": "key_period_review_days",  # a key period of the school started
}


class Deadline(Base):
    """A durable deadline: a row the scheduler polls, so none is lost with a worker."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime]
    status: Mapped[DeadlineStatus] = mapped_column(
        enum_column(DeadlineStatus, "deadline_status"), default=DeadlineStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()


class Alert(Base):
    """An alert to one person about a case, a contact, a school report, a unit of the
    school network, a screening warning or a watch-list student, e.g. a missed deadline;
    texted once when Twilio is set. Its kinds are declared in ``casework.alerts``."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    school_report_id: Mapped[int | None] = mapped_column(ForeignKey("school_reports.id"))
    # a unit of the school network (e.g. a class whose weekly report did not arrive)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    # a screening warning, or a student on a school's watch list
    screening_warning_id: Mapped[int | None] = mapped_column(
        ForeignKey("screening_warnings.id"))
    watch_entry_id: Mapped[int | None] = mapped_column(ForeignKey("watch_list_entries.id"))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    sms_status: Mapped[str | None] = mapped_column(String(20))  # sending | sent | failed
    sms_sid: Mapped[str | None] = mapped_column(String(64))

    recipient: Mapped[User] = relationship()
    deadline: Mapped[Deadline | None] = relationship()
    case: Mapped[Case | None] = relationship()
    unit: Mapped[SchoolUnit | None] = relationship()

    @validates("kind")
    def _declared(self, _key: str, kind: str) -> str:
        # a kind no console knows how to show is refused here, not found on a console
        from casework.alerts import KINDS  # the declarations import this model
        if kind not in KINDS:
            raise ValueError(f"undeclared alert kind {kind!r}: declare it in casework.alerts")
        return kind
