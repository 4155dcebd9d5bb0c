"""Who may read and handle school reports, and keep a school's key periods (registered
with the shell's access rules).

- a reporter reads what they reported;
- the counselors and supervisors of the centre that serves the school read its at-risk
  reports and handle them (take, open a case, close); a counselor also reads the daily and
  zero reports about the students of their cases, a supervisor all of the school's;
- every reporter of a school reads its key periods (重要时段), which its psychology centre
  teachers (学校心理中心教师, of the whole school) keep; the supervisors of the centre that
  serves the school read them too.
"""
from __future__ import annotations

from casework.models import Case
from crisisline.access.rules import (EDIT, VIEW, in_scope, rule, school_centre_id,
                                     schools_served_by, scope, visible)
from crisisline.accounts.models import OrgKind, ReporterIdentity, Role, User
from schoolnet.models import KeyPeriod, ReportKind, SchoolReport


@rule(SchoolReport, (VIEW,), Role.REPORTER)
def _reporter_report(user: User, report: SchoolReport) -> bool:
    return report.reported_by_id == user.id


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
    return SchoolReport.reported_by_id == user.id


@scope(SchoolReport, Role.COUNSELOR)
def _counselor_reports(user: User):
    return (((SchoolReport.kind == ReportKind.AT_RISK)
             & SchoolReport.school_id.in_(schools_served_by(user.centre_ids)))
            | SchoolReport.student_id.in_(
                visible(user, Case).with_only_columns(Case.student_id)))


@scope(SchoolReport, Role.SUPERVISOR)
def _supervisor_reports(user: User):
    return SchoolReport.school_id.in_(schools_served_by(user.centre_ids))


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
