"""Who may read and handle the school network's records (registered with the shell's
access rules).

The four-level network (school → 院系/年级 → 班级 → 宿舍) decides what a reporter sees: their
own reports always; beyond them, their *reach* (:func:`reach`): a head teacher, class
committee member, 辅导员 or department head the reports about the students of their unit and
the units under it (a dormitory officer's report on a student reaches that student's class
and department), the school's psychology centre the whole school; a report follows its
student as they are now (one who moves school takes it along), a zero report its unit.
A dormitory officer reaches only their own reports. The department and the psychology
centre also hold each follow-up record of their students' cases (seed 003's records in
duplicate); never the hotline contacts.

Screening (心理普测) is confidential: a campaign, its scores, interview notes, assessments and
the watch list (动态清单) are read by the school's psychology centre (the whole school) and by
the student's 班主任 and 辅导员 (their reach), never by class committee members, dormitory
officers or department heads; at the centre that serves the school by its supervisors, and
by its counselors only the second warnings they assess; never by its volunteers. The
班主任/辅导员 interview a warned student and review the watch-list students they reach;
the psychology centre runs campaigns and review meetings and does all of it for the whole
school.

Every reporter of a school reads its key periods (重要时段), which its psychology centre
teachers (学校心理中心教师, of the whole school) keep; the supervisors of the centre that
serves the school read them too.

At the centre that serves the school: its counselors and supervisors read the at-risk
reports and handle them (take, open a case, close); a counselor also reads the daily and
zero reports about the students of their cases, a supervisor all of the school's.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select, true

from casework.models import Case, FollowUpContact, Student
from crisisline.access.rules import (EDIT, VIEW, cached, in_scope, rule, school_centre_id,
                                     schools_served_by, scope, visible)
from crisisline.accounts.models import OrgKind, ReporterIdentity, Role, SchoolUnit, User
from crisisline.database import db
from schoolnet.models import (KeyPeriod, ReportKind, ReviewMeeting, RoutineReport,
                              SchoolReport, ScreeningCampaign, ScreeningResult,
                              ScreeningWarning, WatchListEntry)

# who reads their students' screenings and watch-list entries, and acts on them
SCREENING_STAFF = frozenset({ReporterIdentity.HEAD_TEACHER,
                             ReporterIdentity.COUNSELOR_TEACHER,
                             ReporterIdentity.PSYCHOLOGY_CENTRE})
# who holds their students' follow-up records (一式2份)
FOLLOW_UP_HOLDERS = frozenset({ReporterIdentity.DEPARTMENT_HEAD,
                               ReporterIdentity.COUNSELOR_TEACHER,
                               ReporterIdentity.PSYCHOLOGY_CENTRE})


@dataclass(frozen=True)
class Reach:
    """The part of one school a reporter's place in the network covers."""

    school_id: int
    whole_school: bool
    unit_ids: frozenset[int]  # their unit and every unit under it

    def covers(self, student: Student) -> bool:
        """Is ``student``, as they are now (school, class, dormitory), within reach?"""
        if student.school_id != self.school_id:
            return False
        return self.whole_school or bool(
            {student.class_unit_id, student.dormitory_unit_id} & self.unit_ids)

    def covers_unit(self, school_id: int, unit_id: int | None) -> bool:
        return school_id == self.school_id and (self.whole_school or unit_id in self.unit_ids)

    def students(self) -> ColumnElement[bool]:
        """The students it covers, as SQL."""
        if self.whole_school:
            return Student.school_id == self.school_id
        return (Student.school_id == self.school_id) & or_(
            Student.class_unit_id.in_(self.unit_ids),
            Student.dormitory_unit_id.in_(self.unit_ids))


def reach(user: User) -> Reach | None:
    """What ``user`` (a school reporter) reaches beyond their own reports, or None."""
    if user.role != Role.REPORTER or user.reporter_identity in (
            None, ReporterIdentity.DORMITORY_INFORMANT):
        return None
    place = next((m for m in user.memberships if m.organisation.kind == OrgKind.SCHOOL), None)
    if place is None:
        return None
    if user.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE:
        return Reach(place.organisation_id, True, frozenset())
    if place.unit_id is None:
        return None
    return cached(("reach", user.id), lambda: Reach(
        place.organisation_id, False, frozenset(units_under(place.organisation_id,
                                                            place.unit_id))))


def units_under(school_id: int, unit_id: int) -> set[int]:
    """``unit_id`` and every unit below it in its school."""
    children: dict[int | None, list[int]] = {}
    for unit, parent in db.execute(select(SchoolUnit.id, SchoolUnit.parent_id)
                                   .where(SchoolUnit.school_id == school_id)):
        children.setdefault(parent, []).append(unit)
    found, waiting = set(), [unit_id]
    while waiting:
        unit = waiting.pop()
        if unit not in found:
            found.add(unit)
            waiting += children.get(unit, [])
    return found


# -- school reports ------------------------------------------------------------------------

@rule(SchoolReport, (VIEW,), Role.REPORTER)
def _reporter_report(user: User, report: SchoolReport) -> bool:
    if report.reported_by_id == user.id:
        return True
    covering = reach(user)
    if covering is None:
        return False
    if report.student is not None:  # the student as they are now: a move takes it along
        return covering.covers(report.student)
    return covering.covers_unit(report.school_id, report.unit_id)


@rule(SchoolReport, (VIEW,), Role.COUNSELOR)
def _counselor_views_report(user: User, report: SchoolReport) -> bool:
    if report.kind == ReportKind.AT_RISK and _served(user, report):
        return True
    return report.student is not None and any(
        in_scope(user, VIEW, case) for case in report.student.cases)


@rule(SchoolReport, (EDIT,), Role.COUNSELOR, Role.SUPERVISOR)
def _centre_handles_report(user: User, report: SchoolReport) -> bool:
    return report.kind == ReportKind.AT_RISK and _served(user, report)


@rule(SchoolReport, (VIEW,), Role.SUPERVISOR)
def _supervisor_views_report(user: User, report: SchoolReport) -> bool:
    return _served(user, report)


def _served(user: User, report: SchoolReport) -> bool:
    return school_centre_id(report.school_id) in user.centre_ids


@scope(SchoolReport, Role.REPORTER)
def _reporter_reports(user: User):
    covering = reach(user)
    if covering is None:
        return SchoolReport.reported_by_id == user.id
    of_unit = true() if covering.whole_school else SchoolReport.unit_id.in_(covering.unit_ids)
    return (SchoolReport.reported_by_id == user.id) | SchoolReport.student_id.in_(
        select(Student.id).where(covering.students())) | (
        SchoolReport.student_id.is_(None) & (SchoolReport.school_id == covering.school_id)
        & of_unit)


@scope(SchoolReport, Role.COUNSELOR)
def _counselor_reports(user: User):
    return (((SchoolReport.kind == ReportKind.AT_RISK)
             & SchoolReport.school_id.in_(schools_served_by(user.centre_ids)))
            | SchoolReport.student_id.in_(
                visible(user, Case).with_only_columns(Case.student_id)))


@scope(SchoolReport, Role.SUPERVISOR)
def _supervisor_reports(user: User):
    return SchoolReport.school_id.in_(schools_served_by(user.centre_ids))


# -- follow-up records, in duplicate ----------------------------------------------------------

@rule(FollowUpContact, (VIEW,), Role.REPORTER)
def _school_holds_follow_up(user: User, follow_up: FollowUpContact) -> bool:
    covering = reach(user) if user.reporter_identity in FOLLOW_UP_HOLDERS else None
    student = follow_up.case.student
    return covering is not None and student is not None and covering.covers(student)


@scope(FollowUpContact, Role.REPORTER)
def _school_follow_ups(user: User):
    covering = reach(user) if user.reporter_identity in FOLLOW_UP_HOLDERS else None
    if covering is None:
        return false()
    return FollowUpContact.case_id.in_(select(Case.id).where(Case.student_id.in_(
        select(Student.id).where(covering.students()))))


# -- routine reports ---------------------------------------------------------------------------

@rule(RoutineReport, (VIEW,), Role.REPORTER)
def _reporter_routine_report(user: User, report: RoutineReport) -> bool:
    if report.filed_by_id == user.id:
        return True
    covering = reach(user)
    return covering is not None and covering.covers_unit(report.school_id, report.unit_id)


@rule(RoutineReport, (VIEW,), Role.SUPERVISOR)
def _supervisor_routine_report(user: User, report: RoutineReport) -> bool:
    return school_centre_id(report.school_id) in user.centre_ids


@scope(RoutineReport, Role.REPORTER)
def _reporter_routine_reports(user: User):
    covering = reach(user)
    if covering is None:
        return RoutineReport.filed_by_id == user.id
    return (RoutineReport.filed_by_id == user.id) | (
        (RoutineReport.school_id == covering.school_id)
        & (true() if covering.whole_school else RoutineReport.unit_id.in_(covering.unit_ids)))


@scope(RoutineReport, Role.SUPERVISOR)
def _supervisor_routine_reports(user: User):
    return RoutineReport.school_id.in_(schools_served_by(user.centre_ids))

# -- key periods ------------------------------------------------------------------------------

def keeps_calendar(user: User, school_id: int) -> bool:
    """Is ``user`` a psychology centre teacher of the whole school ``school_id`` (who keeps
    its key periods)?"""
    return (user.role == Role.REPORTER
            and user.reporter_identity == ReporterIdentity.PSYCHOLOGY_CENTRE
            and any(membership.organisation_id == school_id and membership.unit_id is None
                    for membership in user.memberships))


@rule(KeyPeriod, (VIEW,), Role.REPORTER)
def _reporter_reads_key_period(user: User, period: KeyPeriod) -> bool:
    return period.school_id in user.organisation_ids(OrgKind.SCHOOL)


@rule(KeyPeriod, (EDIT,), Role.REPORTER)
def _psychology_centre_keeps_key_period(user: User, period: KeyPeriod) -> bool:
    return keeps_calendar(user, period.school_id)


@rule(KeyPeriod, (VIEW,), Role.SUPERVISOR)
def _supervisor_reads_key_period(user: User, period: KeyPeriod) -> bool:
    return school_centre_id(period.school_id) in user.centre_ids


@scope(KeyPeriod, Role.REPORTER)
def _reporter_key_periods(user: User):
    return KeyPeriod.school_id.in_(user.organisation_ids(OrgKind.SCHOOL))


@scope(KeyPeriod, Role.SUPERVISOR)
def _supervisor_key_periods(user: User):
    return KeyPeriod.school_id.in_(schools_served_by(user.centre_ids))


# -- screening and the watch list -------------------------------------------------------------

def is_psychology_centre(user: User, school_id: int) -> bool:
    """Is ``user`` a psychology centre teacher of the whole school ``school_id``?"""
    return keeps_calendar(user, school_id)


def screening_reach(user: User) -> Reach | None:
    """The students whose screenings ``user`` (a school reporter) reads, or None."""
    if user.role != Role.REPORTER or user.reporter_identity not in SCREENING_STAFF:
        return None
    return reach(user)


def reads_screenings(user: User) -> bool:
    """Does ``user`` read some school's screenings (the pages offer them)?"""
    return user.is_authenticated and (user.role in (Role.COUNSELOR, Role.SUPERVISOR)
                                      or screening_reach(user) is not None)


def _served_school(user: User, school_id: int) -> bool:
    return school_centre_id(school_id) in user.centre_ids


@rule(ScreeningCampaign, (VIEW,), Role.REPORTER)
def _school_reads_campaign(user: User, campaign: ScreeningCampaign) -> bool:
    covering = screening_reach(user)
    return covering is not None and covering.school_id == campaign.school_id


@rule(ScreeningCampaign, (EDIT,), Role.REPORTER)
def _psychology_centre_runs_campaign(user: User, campaign: ScreeningCampaign) -> bool:
    return is_psychology_centre(user, campaign.school_id)


@rule(ScreeningCampaign, (VIEW,), Role.COUNSELOR, Role.SUPERVISOR)
def _centre_reads_campaign(user: User, campaign: ScreeningCampaign) -> bool:
    return _served_school(user, campaign.school_id)


@scope(ScreeningCampaign, Role.REPORTER)
def _school_campaigns(user: User):
    covering = screening_reach(user)
    return false() if covering is None else ScreeningCampaign.school_id == covering.school_id


@scope(ScreeningCampaign, Role.COUNSELOR, Role.SUPERVISOR)
def _centre_campaigns(user: User):
    return ScreeningCampaign.school_id.in_(schools_served_by(user.centre_ids))


def _reads_student(user: User, student: Student) -> bool:
    covering = screening_reach(user)
    return covering is not None and covering.covers(student)


def _school_students(user: User):
    """The students whose screenings a reporter reads, as SQL (ids)."""
    covering = screening_reach(user)
    return None if covering is None else select(Student.id).where(covering.students())


def _served_students(user: User):
    return select(Student.id).where(Student.school_id.in_(schools_served_by(user.centre_ids)))


for _model in (ScreeningResult, ScreeningWarning, WatchListEntry):
    # a result's scores, a warning's interview and assessment, a watch-list entry's plan:
    # the school's readers, and the supervisors of the centre that serves it
    rule(_model, (VIEW,), Role.REPORTER)(
        lambda user, record: _reads_student(user, record.student))
    rule(_model, (VIEW,), Role.SUPERVISOR)(
        lambda user, record: _served_school(user, record.student.school_id))
    scope(_model, Role.REPORTER)(
        lambda user, model=_model: false() if (ids := _school_students(user)) is None
        else model.student_id.in_(ids))
    scope(_model, Role.SUPERVISOR)(
        lambda user, model=_model: model.student_id.in_(_served_students(user)))

# the centre's counselors assess second warnings: they read those (and their scores), not the
# first warnings a teacher has yet to talk through, nor the school's watch list
ASSESSED = ("second_warning", "graded")


@rule(ScreeningWarning, (VIEW, EDIT), Role.COUNSELOR)
def _counselor_assesses(user: User, warning: ScreeningWarning) -> bool:
    return warning.state in ASSESSED and _served_school(user, warning.student.school_id)


@rule(ScreeningResult, (VIEW,), Role.COUNSELOR)
def _counselor_reads_assessed_result(user: User, result: ScreeningResult) -> bool:
    return result.warning is not None and _counselor_assesses(user, result.warning)


@scope(ScreeningWarning, Role.COUNSELOR)
def _counselor_warnings(user: User):
    return ScreeningWarning.state.in_(ASSESSED) & ScreeningWarning.student_id.in_(
        _served_students(user))


@scope(ScreeningResult, Role.COUNSELOR)
def _counselor_results(user: User):
    return ScreeningResult.id.in_(select(ScreeningWarning.result_id).where(
        ScreeningWarning.state.in_(ASSESSED), ScreeningWarning.student_id.in_(
            _served_students(user))))


@rule(ScreeningWarning, (EDIT,), Role.REPORTER)
def _teacher_works_warning(user: User, warning: ScreeningWarning) -> bool:
    """The student's 班主任/辅导员 interview; the psychology centre interviews and assesses."""
    return _reads_student(user, warning.student)


@rule(WatchListEntry, (EDIT,), Role.REPORTER)
def _teacher_reviews_entry(user: User, entry: WatchListEntry) -> bool:
    return _reads_student(user, entry.student)


@rule(ReviewMeeting, (VIEW, EDIT), Role.REPORTER)
def _psychology_centre_meets(user: User, meeting: ReviewMeeting) -> bool:
    return is_psychology_centre(user, meeting.school_id)


@rule(ReviewMeeting, (VIEW,), Role.SUPERVISOR)
def _supervisor_reads_meeting(user: User, meeting: ReviewMeeting) -> bool:
    return _served_school(user, meeting.school_id)


@scope(ReviewMeeting, Role.REPORTER)
def _school_meetings(user: User):
    schools = [membership.organisation_id for membership in user.memberships
               if is_psychology_centre(user, membership.organisation_id)]
    return ReviewMeeting.school_id.in_(schools)


@scope(ReviewMeeting, Role.SUPERVISOR)
def _supervisor_meetings(user: User):
    return ReviewMeeting.school_id.in_(schools_served_by(user.centre_ids))
