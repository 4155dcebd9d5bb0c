"""The access matrix: every (user, action, record) that is allowed, and nothing else.

Each user stands in one relationship to the records of ``tests.world``. The test checks
every combination, so a rule that is missing fails (an allowed triple is denied) and a rule
that is too broad fails (a triple not listed is allowed).
"""
from __future__ import annotations

import itertools
from datetime import date

import pytest

from casework.models import FollowUpContact, FollowUpKind
from crisisline.access.models import BreakGlassGrant
from crisisline.accounts.models import (SchoolUnit,
                                        UnitKind)
from crisisline.access.rules import ACTIONS, EDIT, VIEW, can, registered_rules, visible
from crisisline.audit.models import AuditEntry
from crisisline.database import db, utcnow
from casework.models import RiskLevel
from schoolnet.models import (Instrument, ReviewMeeting, RoutineKind, RoutineReport,
                              ScreeningCampaign, ScreeningResult, ScreeningWarning,
                              WatchListEntry)
from tests.world import build_world

BOTH = (VIEW, EDIT)

# a screening's records, of school S (the centre A's) and of school SB (centre B's)
SCREENING = ("campaign", "result", "warning", "watch_entry")
A_CENTRE_READS = {"campaign": (VIEW,), "result": (VIEW,), "warning": (VIEW,),
                  "watch_entry": (VIEW,)}
# the centre's counselors assess second warnings (and read their scores), not the watch
# list; its supervisors read the meetings too
A_COUNSELOR = {"campaign": (VIEW,), "result": (VIEW,), "warning": BOTH}
B_COUNSELOR = {f"{name}_b": actions for name, actions in A_COUNSELOR.items()}
A_SUPERVISOR = {**A_CENTRE_READS, "meeting": (VIEW,)}
B_SUPERVISOR = {f"{name}_b": actions for name, actions in A_SUPERVISOR.items()}

# user -> {record: actions}
ALLOWED: dict[str, dict[str, tuple[str, ...]]] = {
    # a volunteer and a counselor read the triage feedback they gave; the centre's
    # supervisors review it all
    "volunteer": {"contact": BOTH, "feedback": (VIEW,)},
    "other_volunteer": {"contact_b": BOTH},
    # the centre's counselors and supervisors handle the at-risk reports of its schools
    "counselor": {"team_case": BOTH, "student": BOTH, "referral_h1": BOTH,
                  "report": BOTH, "counselor_contact": BOTH, "counselor_feedback": (VIEW,),
                  **A_COUNSELOR},
    "owner_counselor": {"owned_case": BOTH, "contact": (VIEW,), "transfer_case": BOTH,
                        "referral_transfer": BOTH, "report": BOTH, **A_COUNSELOR},
    "outsider_counselor": {"case_b": BOTH, "student_b": BOTH, "referral_h2": BOTH,
                           "report_b": (VIEW,), **B_COUNSELOR},
    "supervisor": {"team_case": BOTH, "owned_case": BOTH, "contact": BOTH, "student": BOTH,
                   "counselor_contact": BOTH, "transfer_case": BOTH, "referral_transfer": BOTH,
                   "referral_h1": BOTH, "report": BOTH, "audit_entry": (VIEW,),
                   "counselor_grant": BOTH, "routine_report": (VIEW,),
                   "key_period": (VIEW,), "feedback": BOTH, "counselor_feedback": BOTH,
                   **A_SUPERVISOR},
    "other_supervisor": {"case_b": BOTH, "contact_b": BOTH, "student_b": BOTH,
                         "referral_h2": BOTH, "report_b": (VIEW,), "audit_entry": (VIEW,),
                         "key_period_b": (VIEW,), **B_SUPERVISOR},
    "liaison": {"referral_h1": BOTH, "referral_transfer": BOTH, "transfer_case": (VIEW,)},
    "other_liaison": {"referral_h2": BOTH},
    # the centre handles a report; a school's reporters read its key periods, which its
    # psychology centre teacher keeps
    "reporter": {"report": (VIEW,), "routine_report": (VIEW,), "key_period": (VIEW,)},
    "other_reporter": {"report_b": (VIEW,), "key_period": (VIEW,)},
    # the school's psychology centre keeps its key periods, reads every report of its school
    # and the follow-up records of its students' cases (held in duplicate with the centre)
    # and runs its screenings: reads and works every warning, the watch list, the meetings
    "psych_reporter": {"key_period": BOTH, "report": (VIEW,), "follow_up": (VIEW,),
                       "routine_report": (VIEW,), "campaign": BOTH, "result": (VIEW,),
                       "warning": BOTH, "watch_entry": BOTH, "meeting": BOTH},
    "admin": {"a_user": BOTH, "student": BOTH, "student_b": BOTH},
}


@pytest.fixture
def world(ctx):
    with ctx():
        world = build_world()
        world.records["audit_entry"] = AuditEntry()
        world.records["a_user"] = world.users["volunteer"]
        world.records["counselor_grant"] = BreakGlassGrant(user=world.users["counselor"])
        world.records["follow_up"] = FollowUpContact(
            case=world.records["team_case"], kind=FollowUpKind.PHONE, outcome="平稳",
            occurred_at=utcnow(), recorded_by_id=world.users["counselor"].id)
        class_unit = SchoolUnit(school_id=world.orgs["S"].id, kind=UnitKind.CLASS, name="1班")
        world.records["routine_report"] = RoutineReport(
            school_id=world.orgs["S"].id, unit=class_unit, kind=RoutineKind.WEEKLY_CLASS,
            period_start=date(2026, 11, 2), period_end=date(2026, 11, 8),
            filed_by_id=world.users["reporter"].id)
        db.add_all([world.records["follow_up"], world.records["routine_report"]])
        _feedback(world)
        for suffix, school, student in (("", "S", "student"), ("_b", "SB", "student_b")):
            _screening(world, suffix, world.orgs[school], world.records[student])
        db.flush()
        yield world


def _feedback(world) -> None:
    """Triage feedback on a message of centre A's contacts, by its volunteer and by a
    counselor."""
    from hotline.models import ContactMessage, TriageFeedback
    message = ContactMessage(contact=world.records["contact"], inbound=True, body="我想死",
                             triage={"level": "moderate"})
    for name, user in (("feedback", "volunteer"), ("counselor_feedback", "counselor")):
        world.records[name] = TriageFeedback(
            message=message, centre_id=world.orgs["A"].id, given_by_id=world.users[user].id,
            triage_level=RiskLevel.MODERATE, judged_level=RiskLevel.HIGH)
        db.add(world.records[name])


def _screening(world, suffix: str, school, student) -> None:
    """A campaign of ``school`` in which ``student`` was warned, graded moderate and put on
    the watch list, reviewed at a meeting."""
    psych = world.users["psych_reporter"]
    campaign = ScreeningCampaign(school_id=school.id, name="普测", instrument=Instrument.PHQ9,
                                 started_on=date(2026, 9, 1), created_by_id=psych.id)
    result = ScreeningResult(campaign=campaign, student=student, total=15, self_harm_item=0)
    warning = ScreeningWarning(campaign=campaign, result=result, student=student,
                               school_id=school.id, urgent=False, due_at=utcnow(),
                               state="graded", risk_level=RiskLevel.MODERATE)
    entry = WatchListEntry(school_id=school.id, student=student, warning=warning,
                           risk_level=RiskLevel.MODERATE, owner_id=psych.id, plan="每周谈心",
                           next_review_on=date(2026, 12, 1), added_by_id=psych.id,
                           on_list_key=f"student:{student.id}")
    meeting = ReviewMeeting(school_id=school.id, held_on=date(2026, 11, 1),
                            held_by_id=psych.id)
    for name, record in (("campaign", campaign), ("result", result), ("warning", warning),
                         ("watch_entry", entry), ("meeting", meeting)):
        world.records[name + suffix] = record
        db.add(record)


def _allowed(user: str, action: str, record: str) -> bool:
    return action in ALLOWED.get(user, {}).get(record, ())


def test_every_user_action_and_record_is_decided_as_listed(world):
    wrong = [
        (user, action, record, "allowed" if not expected else "denied")
        for (user, u), action, (record, r) in itertools.product(
            world.users.items(), ACTIONS, world.records.items())
        if can(u, action, r) != (expected := _allowed(user, action, record))
    ]
    assert wrong == []


def test_every_registered_rule_is_exercised_by_the_matrix(world):
    exercised = {
        (type(world.records[record]).__name__, action, world.users[user].role.value)
        for user, records in ALLOWED.items()
        for record, actions in records.items() for action in actions
    }
    assert registered_rules() == exercised


def test_disabled_users_are_denied_everything(world):
    from crisisline.database import utcnow
    supervisor = world.users["supervisor"]
    supervisor.disabled_at = utcnow()
    assert not any(can(supervisor, action, record)
                   for action in ACTIONS for record in world.records.values())


def test_lists_show_exactly_the_records_a_user_may_view(world):
    from crisisline.database import db
    models = {type(r) for r in world.records.values()} - {AuditEntry, BreakGlassGrant,
                                                          type(world.users["admin"])}
    for (name, user), model in itertools.product(world.users.items(), models):
        listed = set(db.scalars(visible(user, model)))
        ours = {r for r in world.records.values() if isinstance(r, model)}
        expected = {r for r in ours if can(user, VIEW, r)}
        assert listed & ours == expected, (name, model.__name__)


# who may *pick* a student (name, school and class only) to open a case or link a contact
PICKABLE: dict[str, set[str]] = {
    "counselor": {"student"}, "owner_counselor": {"student"}, "supervisor": {"student"},
    "outsider_counselor": {"student_b"}, "other_supervisor": {"student_b"},
}


def test_students_are_picked_only_by_hotline_staff_of_the_centre_serving_their_school(world):
    from sqlalchemy import select

    from casework.models import Student
    from crisisline.access.rules import identifiable
    from crisisline.database import db
    ours = {key: world.records[key].id for key in ("student", "student_b")}
    for name, user in world.users.items():
        picked = set(db.scalars(select(Student.id).where(identifiable(user))))
        found = {key for key, id_ in ours.items() if id_ in picked}
        assert found == PICKABLE.get(name, set()), name


def test_a_volunteer_picks_a_student_only_for_a_contact_they_act_on(world):
    from sqlalchemy import select

    from casework.models import Student
    from crisisline.access.rules import identifiable
    from crisisline.database import db
    student = world.records["student"].id

    def picks(user, contact):
        return student in set(db.scalars(select(Student.id).where(
            identifiable(world.users[user], world.records[contact]))))
    assert picks("volunteer", "contact")  # theirs, at centre A, whose school S the student is at
    assert not picks("other_volunteer", "contact")  # not theirs
    assert not picks("other_volunteer", "contact_b")  # theirs, but centre B does not serve S
