"""School reports (a student at risk, a daily report 日报告 or a zero report 零报告), the
routine reports that go up the four-level network (weekly by class, monthly by
department), and the school's calendar of key periods (重要时段)."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.models import Case, RiskLevel, Student
from crisisline.accounts.models import Organisation, SchoolUnit, User
from crisisline.database import Base, enum_column, utcnow


class ReportKind(str, enum.Enum):
    AT_RISK = "at_risk"  # a student at risk, reported by the school network
    DAILY = "daily"  # 日报告: about a student under daily reporting
    ZERO = "zero"  # 零报告: nothing happened today (in the reporter's unit, or to a student)


class ReportStatus(str, enum.Enum):
    """Where an at-risk report stands at the centre (daily and zero reports stay
    ``received``: they are records, not requests)."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"  # a counselor or supervisor has taken it
    CASE_OPENED = "case_opened"  # a case was opened for it, or it joined the open one
    CLOSED = "closed"  # handled without a case, with the reason


OPEN_STATUSES = (ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS)


class SchoolReport(Base):
    """A report from the school network."""

    __tablename__ = "school_reports"
    __audit_name__ = "school_report"
    # the centre's queue of reports to handle, oldest first
    __table_args__ = (Index("ix_school_reports_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    # the reporter's unit when they filed it (None: the whole school)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("school_units.id"))
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[ReportKind] = mapped_column(enum_column(ReportKind, "report_kind"))
    report_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    # one daily or zero report per student, or per unit, and day: "student:<id>:<date>" or
    # "unit:<school>:<unit>:<date>" (None for at-risk reports, of which there may be many)
    once_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus, "report_status"), default=ReportStatus.RECEIVED,
        server_default=ReportStatus.RECEIVED.value)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    taken_at: Mapped[datetime | None]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    closed_reason: Mapped[str | None] = mapped_column(Text)
    handled_at: Mapped[datetime | None]
    # when the supervisors were told nobody had taken it in time (once)
    triage_alerted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()
    student: Mapped[Student | None] = relationship()
    unit: Mapped[SchoolUnit | None] = relationship()
    reported_by: Mapped[User] = relationship(foreign_keys=[reported_by_id])
    taken_by: Mapped[User | None] = relationship(foreign_keys=[taken_by_id])
    case: Mapped[Case | None] = relationship()


class RoutineKind(str, enum.Enum):
    """The routine reports that go up the network, each to the next level."""

    WEEKLY_CLASS = "weekly_class"  # 班级心理基本情况, by the class committee member
    MONTHLY_DEPARTMENT = "monthly_department"  # by the department (or grade)


class RoutineReport(Base):
    """A class's weekly or a department's monthly report, one per unit and period."""

    __tablename__ = "routine_reports"
    __audit_name__ = "routine_report"
    __table_args__ = (UniqueConstraint("unit_id", "kind", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("school_units.id"))
    kind: Mapped[RoutineKind] = mapped_column(enum_column(RoutineKind, "routine_kind"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # the four areas of 班级心理基本情况: 学习、生活、交往、情感
    study: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    life: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    relationships: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    emotions: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    # students to watch: [{"student_id", "note", "school_report_id" (when reported at risk)}]
    watch: Mapped[list[dict]] = mapped_column(JSON, default=list, info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[SchoolUnit] = relationship()
    filed_by: Mapped[User] = relationship()


class MissedRoutineReport(Base):
    """A routine report that had not arrived by its due time and grace: the level above
    was alerted, once."""

    __tablename__ = "missed_routine_reports"
    __audit_name__ = "missed_routine_report"
    __table_args__ = (UniqueConstraint("unit_id", "kind", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("school_units.id"))
    kind: Mapped[RoutineKind] = mapped_column(enum_column(RoutineKind, "routine_kind"))
    period_start: Mapped[date] = mapped_column(Date)
    alerted_at: Mapped[datetime] = mapped_column(default=utcnow)
class KeyPeriodKind(str, enum.Enum):
    """The key periods a school watches closely (seed 002)."""

    HOLIDAYS = "holidays"  # 放假前后
    EXAMS = "exams"  # 考试前后
    TERM_START = "term_start"  # 开学前后
    FRESHMEN = "freshmen"  # 新生入学后
    MAJOR_EVENT = "major_event"  # 重大活动前后
    SEASON_CHANGE = "season_change"  # 季节交替前后
    GRADUATION = "graduation"  # 毕业生离校前


class KeyPeriod(Base):
    """A key period (重要时段) in a school's calendar, kept by its psychology centre teacher;
    when it starts, the students of the school's cases in follow-up are reviewed."""

    __tablename__ = "key_periods"
    __audit_name__ = "key_period"
    __table_args__ = (Index("ix_key_periods_school_dates", "school_id", "starts_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[KeyPeriodKind] = mapped_column(enum_column(KeyPeriodKind, "key_period_kind"))
    name: Mapped[str] = mapped_column(String(120))  # e.g. 2026年秋季开学前后
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)  # the last day of the period
    # when the period's reviews were created (once, by the sweep on its first day)
    reviews_created_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()


# -- screening (心理普测) and the watch list (动态清单) -----------------------------------------

class Instrument(str, enum.Enum):
    """The scale a campaign screens with; its warning thresholds are policy."""

    PHQ9 = "PHQ-9"  # depression; item 9 asks about thoughts of self-harm
    GAD7 = "GAD-7"  # anxiety
    CUSTOM = "custom"  # a named scale with a documented cut-off


class ScreeningCampaign(Base):
    """One screening of a school's students with one scale (每学年至少1次), run by the
    school's psychology centre."""

    __tablename__ = "screening_campaigns"
    __audit_name__ = "screening_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))  # e.g. 2026级新生心理普测
    instrument: Mapped[Instrument] = mapped_column(enum_column(Instrument, "instrument"))
    # a custom scale: its name, the total from which a student is warned, its highest total
    scale_name: Mapped[str | None] = mapped_column(String(120))
    cut_off: Mapped[int | None]
    max_score: Mapped[int | None]
    started_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()
    created_by: Mapped[User] = relationship()


class ScreeningResult(Base):
    """One student's scores in a campaign."""

    __tablename__ = "screening_results"
    __audit_name__ = "screening_result"
    __table_args__ = (UniqueConstraint("campaign_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("screening_campaigns.id"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    total: Mapped[int] = mapped_column(info={"sensitive": True})
    # PHQ-9's item 9 (thoughts of self-harm), when the scale has it
    self_harm_item: Mapped[int | None] = mapped_column(info={"sensitive": True})
    items: Mapped[list[int] | None] = mapped_column(JSON, info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[ScreeningCampaign] = relationship()
    student: Mapped[Student] = relationship()
    # the warning it raised, if any
    warning: Mapped[ScreeningWarning | None] = relationship(viewonly=True, uselist=False)


class ScreeningWarning(Base):
    """A first warning (预警) raised by a result over the scale's threshold, worked
    through interview and assessment."""

    __tablename__ = "screening_warnings"
    __audit_name__ = "screening_warning"
    # the campaign's list, urgent and soonest due first
    __table_args__ = (Index("ix_screening_warnings_campaign", "campaign_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("screening_campaigns.id"))
    result_id: Mapped[int] = mapped_column(ForeignKey("screening_results.id"), unique=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    urgent: Mapped[bool]  # the self-harm item was answered: interview within a day
    due_at: Mapped[datetime]  # the interview is due by then
    # driven by ``state_machines.screening_warning``
    state: Mapped[str] = mapped_column(String(40), default="awaiting_interview")
    interviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    interviewed_at: Mapped[datetime | None]
    interview_note: Mapped[str | None] = mapped_column(Text, info={"sensitive": True})
    assessed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[datetime | None]
    risk_level: Mapped[RiskLevel | None] = mapped_column(enum_column(RiskLevel, "risk_level"))
    plan: Mapped[str | None] = mapped_column(Text, info={"sensitive": True})
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # when the school's psychology centre was told the interview is overdue (once)
    overdue_alerted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[ScreeningCampaign] = relationship()
    result: Mapped[ScreeningResult] = relationship()
    student: Mapped[Student] = relationship()
    interviewed_by: Mapped[User | None] = relationship(foreign_keys=[interviewed_by_id])
    assessed_by: Mapped[User | None] = relationship(foreign_keys=[assessed_by_id])
    case: Mapped[Case | None] = relationship()


class WatchDecision(str, enum.Enum):
    """What a review (alone, or at a review meeting 研判会) decides for a student."""

    KEEP = "keep"
    LOWER = "lower"
    RAISE = "raise"  # to moderate; to high or imminent: a crisis case opens
    REMOVE = "remove"  # off the list, with the reason


class WatchListEntry(Base):
    """A student on the school's watch list (需重点关注学生动态清单), with an owner and a
    one-person plan (一人一策), reviewed by a date; leaves the list only with a reason."""

    __tablename__ = "watch_list_entries"
    __audit_name__ = "watch_list_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("screening_warnings.id"))
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    plan: Mapped[str] = mapped_column(Text, info={"sensitive": True})
    next_review_on: Mapped[date] = mapped_column(Date)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # one entry per student on the list: "student:<id>" while on it, None once removed
    on_list_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removed_reason: Mapped[str | None] = mapped_column(Text, info={"sensitive": True})
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # raised to a case
    # the review date for which the owner, then the psychology centre, were told it was
    # missed (once each)
    owner_alerted_for: Mapped[date | None] = mapped_column(Date)
    centre_alerted_for: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()
    student: Mapped[Student] = relationship()
    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    warning: Mapped[ScreeningWarning | None] = relationship()
    reviews: Mapped[list[WatchReview]] = relationship(back_populates="entry",
                                                      order_by="WatchReview.id")


class ReviewMeeting(Base):
    """A review meeting (研判会) of a school: the students reviewed and each decision."""

    __tablename__ = "review_meetings"
    __audit_name__ = "review_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    held_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    held_by: Mapped[User] = relationship()
    reviews: Mapped[list[WatchReview]] = relationship(back_populates="meeting",
                                                      order_by="WatchReview.id")


class WatchReview(Base):
    """One review of a watch-list student: the decision, and the next review date."""

    __tablename__ = "watch_reviews"
    __audit_name__ = "watch_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("watch_list_entries.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("review_meetings.id"))
    reviewed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[WatchDecision] = mapped_column(enum_column(WatchDecision,
                                                                "watch_decision"))
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"))
    next_review_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entry: Mapped[WatchListEntry] = relationship(back_populates="reviews")
    meeting: Mapped[ReviewMeeting | None] = relationship(back_populates="reviews")
    reviewed_by: Mapped[User] = relationship()
