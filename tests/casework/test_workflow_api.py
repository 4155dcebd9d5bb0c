"""The crisis workflow through its HTTP API: every path, every guard, and what a refusal leaves.

A case is driven the way a client drives it: ``POST /api/cases/{id}/events/{event}`` with
the version it last saw. The database is read directly only to check what the API does not
show: history rows, audit entries and deadlines.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from casework.models import (Case, CaseDocument, CaseHistory, Deadline, DeadlineStatus,
                             FollowUpContact, GuardianContactAttempt, Referral)
from casework.policy import policy
from crisisline import audit
from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow
from state_machines import case_workflow
from tests.conftest import PDF

STATES = ("reported", "on_site", "guardian_contact", "hospital_transfer", "on_leave",
          "return_review", "follow_up", "closed", "withdrawn")
EVENTS = ("triage_support", "dispatch", "escalate", "contact_guardian", "refer_to_hospital",
          "home_supervision", "confirm_arrival", "return_to_class", "start_leave",
          "apply_return", "approve_return", "reject_return", "withdraw", "close", "reopen")


# -- the world and its callers ------------------------------------------------------------

def count_rows(db, model, case_id: int) -> int:
    return db.scalar(select(func.count()).select_from(model).where(model.case_id == case_id))


def now_iso(**delta) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


# -- a case in hand -----------------------------------------------------------------------

class CaseInHand:
    """A case as a client holds it: its id and the version it last saw."""

    def __init__(self, api, ctx, world, detail: dict):
        self.api, self.ctx, self.world = api, ctx, world
        self.id, self.version, self.detail = detail["id"], detail["version"], detail

    # events
    def fire(self, event: str, data: dict | None = None, *, by: str = "counselor",
             version: int | None = None):
        body = {"version": self.version if version is None else version, "data": data or {}}
        return self.api(by).post(f"/api/cases/{self.id}/events/{event}", body)

    def step(self, event: str, data: dict | None = None, *, by: str | None = None) -> dict:
        """Fire ``event`` (with its usual data and actor unless given); it must succeed."""
        usual_by, prepare = USUAL[event]
        data = prepare(self) if data is None else data
        response = self.fire(event, data, by=by or usual_by)
        assert response.status_code == 200, (event, response.status_code, response.json)
        self.detail, self.version = response.json, response.json["version"]
        return self.detail

    def walk_to(self, state: str) -> CaseInHand:
        for event in PATHS[state]:
            self.step(event)
        assert self.detail["state"] == state
        return self

    # records around the case
    def attach(self, kind: str, *, hospital: str | None = None, by: str = "counselor") -> int:
        hospital_id = self.world.orgs[hospital].id if hospital else None
        response = self.api(by).upload(self.id, kind, hospital_id=hospital_id)
        assert response.status_code == 201, response.json
        return response.json["id"]

    def record_follow_ups(self, count: int, *, by: str = "counselor") -> None:
        for n in range(count):
            response = self.api(by).post(f"/api/cases/{self.id}/follow-ups", {
                "kind": ("phone", "interview", "home_visit")[n % 3],
                "outcome": f"contact {n + 1}: sleeping better, attends class",
                "occurred_at": now_iso(minutes=-(count - n))})
            assert response.status_code == 201, response.json

    def log_guardian_attempt(self, reached: bool = False) -> None:
        response = self.api("counselor").post(f"/api/cases/{self.id}/guardian-attempts",
                                              {"reached": reached, "note": "no answer"})
        assert response.status_code == 201, response.json

    def read(self, by: str = "supervisor") -> dict:
        response = self.api(by).get(f"/api/cases/{self.id}")
        assert response.status_code == 200, response.json
        return response.json

    # the database, for what the API does not show
    def deadlines(self) -> dict[str, list[str]]:
        """Each deadline kind with its rows' statuses, oldest first."""
        with self.ctx() as db:
            rows = db.scalars(select(Deadline).where(Deadline.case_id == self.id)
                              .order_by(Deadline.id)).all()
            found: dict[str, list[str]] = {}
            for row in rows:
                found.setdefault(row.kind, []).append(row.status.value)
            return found

    def pending_deadlines(self) -> set[str]:
        return {kind for kind, statuses in self.deadlines().items() if "pending" in statuses}

    def make_overdue(self, kind: str) -> None:
        """Let time pass for one pending deadline: its due time is now in the past."""
        with self.ctx() as db:
            rows = db.scalars(select(Deadline).where(
                Deadline.case_id == self.id, Deadline.kind == kind,
                Deadline.status == DeadlineStatus.PENDING)).all()
            assert rows, f"no pending {kind} deadline"
            for row in rows:
                row.due_at = utcnow() - timedelta(minutes=1)
            db.commit()

    def history_events(self) -> list[str]:
        with self.ctx() as db:
            return list(db.scalars(select(CaseHistory.event).where(
                CaseHistory.case_id == self.id).order_by(CaseHistory.id)))

    def audited_events(self) -> list[str]:
        """The workflow's audit actions on this case (reads left out), in order."""
        with self.ctx() as db:
            return list(db.scalars(select(AuditEntry.action).where(
                AuditEntry.object_type == "case", AuditEntry.object_id == str(self.id),
                AuditEntry.action.like("case.%"), AuditEntry.action != "case.read")
                .order_by(AuditEntry.seq)))

    def snapshot(self) -> dict:
        """Everything an event could change: the case row and what hangs off it."""
        with self.ctx() as db:
            case = db.get(Case, self.id)
            row = {column.key: getattr(case, column.key) for column in Case.__table__.columns}
            return {
                "case": row,
                "history": count_rows(db, CaseHistory, self.id),
                "referrals": count_rows(db, Referral, self.id),
                "documents": count_rows(db, CaseDocument, self.id),
                "deadlines": sorted(
                    (d.id, d.kind, d.status.value, d.due_at)
                    for d in db.scalars(select(Deadline).where(Deadline.case_id == self.id))),
                "audited": self.audited_events(),
            }


@pytest.fixture
def open_case(api, ctx, world):
    """Open a case through the API, by t_counselor unless told: it is theirs and the team's."""
    def make(risk_level: str = "high", *, by: str = "counselor", **extra) -> CaseInHand:
        response = api(by).post("/api/cases", {"source": "hotline_contact",
                                               "risk_level": risk_level, **extra})
        assert response.status_code == 201, response.json
        return CaseInHand(api, ctx, world, response.json)
    return make


def refused(case: CaseInHand, event: str, data: dict | None = None, *, by: str = "counselor",
            version: int | None = None):
    """Fire an event that must be refused; check that the refusal changed nothing."""
    before = case.snapshot()
    response = case.fire(event, data, by=by, version=version)
    assert response.status_code in (403, 409, 422), (response.status_code, response.json)
    assert case.snapshot() == before
    return response


# -- the usual data and actor of each event, and the way to each state ----------------------

def _dispatch_data(case) -> dict:
    return {"risk_level": "high", "responder": "王老师 (duty counselor)",
            "emergency_services": ["120"]}


def _apply_return_data(case) -> dict:
    return {"certificate_document_id": case.attach("recovery_certificate", hospital="H1"),
            "application_document_id": case.attach("return_application")}


def _close_data(case) -> dict:
    case.record_follow_ups(policy_min_follow_ups(case))
    return {"note": "stable for a month, family and school agree"}


USUAL = {
    "triage_support": ("counselor", lambda case: {
        "risk_level": "moderate", "support_plan": "weekly talk with the class teacher",
        "plan_owner_id": case.world.users["counselor"].id}),
    "dispatch": ("counselor", _dispatch_data),
    "escalate": ("counselor", lambda case: {**_dispatch_data(case),
                                            "reason": "new self-harm statement in class"}),
    "contact_guardian": ("counselor", lambda case: {"arrived_at": now_iso(minutes=-5),
                                                    "watcher": "宿管李阿姨"}),
    "refer_to_hospital": ("counselor", lambda case: {
        "hospital_id": case.world.orgs["H1"].id, "legal_basis": "guardian_consent"}),
    "home_supervision": ("counselor", lambda case: {
        "danger_to_others": False, "guardian_refused_admission": True,
        "acknowledgement_document_id": case.attach("guardian_acknowledgement")}),
    "confirm_arrival": ("liaison", lambda case: {"arrived_at": now_iso(minutes=-1)}),
    "return_to_class": ("counselor", lambda case: {
        "diagnosis_outcome": "fit_to_study",
        "parent_notice_document_id": case.attach("parent_notice")}),
    "start_leave": ("counselor", lambda case: {
        "kind": "suspension", "reason": "inpatient",
        "expected_end": (utcnow().date() + timedelta(days=60)).isoformat()}),
    "apply_return": ("counselor", _apply_return_data),
    "approve_return": ("supervisor", lambda case: {"note": "certificate and application in order"}),
    "reject_return": ("supervisor", lambda case: {"note": "the certificate is out of date"}),
    "withdraw": ("supervisor", lambda case: {"reason": "leave_expired"}),
    "close": ("supervisor", _close_data),
    "reopen": ("counselor", lambda case: {"reason": "the student called the hotline again"}),
}
TO_TRANSFER = ["dispatch", "contact_guardian", "refer_to_hospital"]
PATHS = {
    "reported": [],
    "on_site": ["dispatch"],
    "guardian_contact": ["dispatch", "contact_guardian"],
    "hospital_transfer": TO_TRANSFER,
    "on_leave": [*TO_TRANSFER, "start_leave"],
    "return_review": [*TO_TRANSFER, "start_leave", "apply_return"],
    "follow_up": ["triage_support"],
    "closed": ["triage_support", "close"],
    "withdrawn": [*TO_TRANSFER, "start_leave", "withdraw"],
}


def policy_min_follow_ups(case: CaseInHand) -> int:
    with case.ctx():
        return policy().min_follow_ups_to_close


# == 1. the whole path ======================================================================

JOURNEY = [  # event, who fires it, the state after it, what that person may fire next
    ("dispatch", "counselor", "on_site", ["contact_guardian"]),
    ("contact_guardian", "counselor", "guardian_contact", ["refer_to_hospital",
                                                           "home_supervision"]),
    ("refer_to_hospital", "counselor", "hospital_transfer", ["return_to_class", "start_leave"]),
    ("confirm_arrival", "liaison", "hospital_transfer", []),  # arrival is confirmed once
    ("start_leave", "counselor", "on_leave", ["apply_return"]),
    ("apply_return", "counselor", "return_review", []),
    ("approve_return", "supervisor", "follow_up", ["escalate", "close"]),
    ("close", "supervisor", "closed", ["reopen"]),
]


def test_a_high_risk_case_goes_from_report_to_closure_one_recorded_step_at_a_time(
        open_case, ctx, world):
    case = open_case("high")
    assert (case.detail["state"], case.detail["owner_id"]) == ("reported",
                                                                world.users["counselor"].id)
    assert case.detail["allowed_events"] == ["triage_support", "dispatch"]

    seen, versions = [], [case.version]
    for event, by, _state, _allowed in JOURNEY:
        detail = case.step(event, by=by)
        seen.append((event, by, detail["state"], detail["allowed_events"]))
        versions.append(detail["version"])

    assert seen == JOURNEY
    final = case.read()
    assert (final["responder"], final["watcher"], final["hospital_id"],
            final["legal_basis"]) == ("王老师 (duty counselor)", "宿管李阿姨",
                                      world.orgs["H1"].id, "guardian_consent")
    assert final["closed_at"] is not None and final["leave_kind"] is None

    history = case.api("supervisor").get(f"/api/cases/{case.id}/history").json
    assert [(h["event"], h["from_state"], h["to_state"]) for h in history] == [
        ("open", None, "reported"), ("dispatch", "reported", "on_site"),
        ("contact_guardian", "on_site", "guardian_contact"),
        ("refer_to_hospital", "guardian_contact", "hospital_transfer"),
        ("confirm_arrival", "hospital_transfer", "hospital_transfer"),
        ("start_leave", "hospital_transfer", "on_leave"),
        ("apply_return", "on_leave", "return_review"),
        ("approve_return", "return_review", "follow_up"), ("close", "follow_up", "closed")]
    users = world.users
    assert [h["actor_id"] for h in history] == [users[by].id for by in (
        "counselor", "counselor", "counselor", "counselor", "liaison", "counselor",
        "counselor", "supervisor", "supervisor")]
    assert case.audited_events() == ["case.open"] + [f"case.{e}" for e, *_ in JOURNEY]
    with ctx() as db:
        assert audit.verify_chain().ok
        assert count_rows(db, FollowUpContact, case.id) == 2
    # the version moves on with every applied event, so a stale client is always caught
    steps = ", ".join(f"{event} -> v{version}" for event, version
                      in zip(["open"] + [e for e, *_ in JOURNEY], versions))
    assert all(later > earlier for earlier, later in zip(versions, versions[1:])), steps


def test_confirming_arrival_at_hospital_moves_the_case_version_on(open_case):
    case = open_case().walk_to("hospital_transfer")
    before = case.version
    case.step("confirm_arrival")
    assert case.version > before
    # a counselor still holding the version from before the arrival is told it changed
    response = refused(case, "start_leave", USUAL["start_leave"][1](case), version=before)
    assert response.status_code == 409 and response.json["current_version"] == case.version


@pytest.mark.parametrize("event, fields", [
    ("dispatch", {"state", "responder"}),
    ("contact_guardian", {"state", "watcher"}),
    ("refer_to_hospital", {"state", "hospital_id", "legal_basis"}),
    ("start_leave", {"state", "leave_kind", "leave_expected_end"}),
])
def test_the_audit_entry_of_an_event_names_every_case_field_the_event_changed(
        open_case, ctx, event, fields):
    case = open_case().walk_to(case_workflow.EVENTS_BY_NAME[event].source)
    case.step(event)
    with ctx() as db:
        entry = db.scalars(select(AuditEntry).where(
            AuditEntry.action == f"case.{event}",
            AuditEntry.object_id == str(case.id))).one()
    assert fields <= set(entry.changes), entry.changes


# == 2. every branch ========================================================================

def test_low_risk_support_goes_straight_to_follow_up_under_the_plan_owner(open_case, world):
    case = open_case("moderate")
    detail = case.step("triage_support", {
        "risk_level": "low", "support_plan": "一人一策: class teacher checks in daily",
        "plan_owner_id": world.users["owner_counselor"].id})
    assert (detail["state"], detail["risk_level"], detail["owner_id"]) == (
        "follow_up", "low", world.users["owner_counselor"].id)
    assert case.deadlines() == {"first_follow_up": ["pending"]}


def test_escalating_from_follow_up_sends_a_responder_and_drops_the_follow_up_deadlines(
        open_case):
    case = open_case("moderate").walk_to("follow_up")
    detail = case.step("escalate")
    assert (detail["state"], detail["risk_level"], detail["responder"]) == (
        "on_site", "high", "王老师 (duty counselor)")
    assert case.deadlines() == {"first_follow_up": ["cancelled"],
                                "responder_on_site": ["pending"]}


def test_school_consent_opens_only_after_the_wait_with_attempts_logged_and_the_form_signed(
        open_case, world):
    case = open_case().walk_to("guardian_contact")
    data = {"hospital_id": world.orgs["H1"].id, "legal_basis": "school_consent"}

    for make_progress, missing in [
            (lambda: None, {"legal_basis", "guardian_contact_attempts", "school_consent_form"}),
            (lambda: case.make_overdue("guardian_reached"),
             {"guardian_contact_attempts", "school_consent_form"}),
            (lambda: case.log_guardian_attempt(reached=False), {"school_consent_form"})]:
        make_progress()
        response = refused(case, "refer_to_hospital", data)
        assert (response.status_code, set(response.json["fields"])) == (422, missing)

    case.attach("school_consent_form")
    detail = case.step("refer_to_hospital", data)
    assert (detail["state"], detail["legal_basis"]) == ("hospital_transfer", "school_consent")
    assert case.deadlines()["guardian_reached"] == ["cancelled"]
    assert case.pending_deadlines() == {"hospital_arrival"}


def test_only_unanswered_calls_to_the_guardian_count_towards_school_consent(open_case, world):
    case = open_case().walk_to("guardian_contact")
    case.make_overdue("guardian_reached")
    case.log_guardian_attempt(reached=True)
    case.attach("school_consent_form")
    response = refused(case, "refer_to_hospital", {"hospital_id": world.orgs["H1"].id,
                                                   "legal_basis": "school_consent"})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"legal_basis"}
    assert "已联系到监护人" in response.json["fields"]["legal_basis"]  # the guardian was reached


def test_police_assisted_transfer_needs_refusal_danger_to_others_and_a_police_reference(
        open_case, ctx, world):
    case = open_case().walk_to("guardian_contact")
    data = {"hospital_id": world.orgs["H1"].id, "legal_basis": "police_assisted"}
    response = refused(case, "refer_to_hospital", {**data, "police_reference": "   "})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"guardian_refused", "danger_to_others",
                                            "police_reference"}

    detail = case.step("refer_to_hospital", {**data, "guardian_refused": True,
                                             "danger_to_others": True,
                                             "police_reference": "110-2026-0421"})
    assert (detail["state"], detail["legal_basis"]) == ("hospital_transfer", "police_assisted")
    with ctx() as db:
        assert db.get(Case, case.id).danger_to_others is True
        referral = db.scalars(select(Referral).where(Referral.case_id == case.id)).one()
        assert referral.hospital_id == world.orgs["H1"].id


def test_home_supervision_is_for_danger_to_self_and_starts_daily_reports(open_case):
    case = open_case().walk_to("guardian_contact")
    acknowledgement = case.attach("guardian_acknowledgement")
    data = {"danger_to_others": False, "guardian_refused_admission": True,
            "acknowledgement_document_id": acknowledgement}

    response = refused(case, "home_supervision", {**data, "danger_to_others": True})
    assert response.status_code == 422 and set(response.json["fields"]) == {"danger_to_others"}
    not_an_acknowledgement = case.attach("parent_notice")
    response = refused(case, "home_supervision",
                       {**data, "acknowledgement_document_id": not_an_acknowledgement})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"acknowledgement_document_id"}

    detail = case.step("home_supervision", data)
    assert (detail["state"], detail["daily_reports"]) == ("follow_up", True)
    assert case.pending_deadlines() == {"first_follow_up", "daily_report"}
    assert case.deadlines()["guardian_reached"] == ["met"]


def test_return_to_class_needs_fit_to_study_and_a_signed_parent_notice(open_case):
    case = open_case().walk_to("hospital_transfer")
    notice = case.attach("parent_notice")
    response = refused(case, "return_to_class", {"diagnosis_outcome": "needs_leave",
                                                 "parent_notice_document_id": notice})
    assert response.status_code == 422 and set(response.json["fields"]) == {"diagnosis_outcome"}
    application = case.attach("return_application")
    response = refused(case, "return_to_class", {"diagnosis_outcome": "fit_to_study",
                                                 "parent_notice_document_id": application})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"parent_notice_document_id"}

    detail = case.step("return_to_class", {"diagnosis_outcome": "fit_to_study",
                                           "parent_notice_document_id": notice})
    assert detail["state"] == "follow_up"
    assert case.deadlines() == {"guardian_reached": ["met"], "hospital_arrival": ["cancelled"],
                                "responder_on_site": ["met"], "first_follow_up": ["pending"],
                                "daily_report": ["pending"]}  # a high-risk student


def test_a_leave_records_its_kind_and_end_and_reminds_before_it_ends(open_case, ctx):
    case = open_case().walk_to("hospital_transfer")
    end = utcnow().date() + timedelta(days=60)
    detail = case.step("start_leave", {"kind": "leave", "reason": "home_rest",
                                       "expected_end": end.isoformat()})
    assert (detail["state"], detail["leave_kind"], detail["leave_expected_end"]) == (
        "on_leave", "leave", end.isoformat())
    assert case.deadlines()["hospital_arrival"] == ["cancelled"]
    with ctx() as db:
        reminder = db.scalars(select(Deadline).where(Deadline.case_id == case.id,
                                                     Deadline.kind == "leave_ending")).one()
    assert reminder.status == DeadlineStatus.PENDING
    assert reminder.due_at.date() == end - timedelta(days=3)


def test_a_rejected_return_goes_back_to_leave_with_a_new_reminder(open_case):
    case = open_case().walk_to("return_review")
    assert case.deadlines()["leave_ending"] == ["cancelled"]
    detail = case.step("reject_return")
    assert (detail["state"], detail["allowed_events"]) == ("on_leave", ["withdraw"])
    assert case.deadlines()["leave_ending"] == ["cancelled", "pending"]


def test_a_supervisor_withdraws_a_student_on_leave_and_every_deadline_is_cancelled(open_case):
    case = open_case().walk_to("on_leave")
    detail = case.step("withdraw", {"reason": "family_decision", "note": "moving away"})
    assert (detail["state"], detail["allowed_events"]) == ("withdrawn", [])
    assert detail["closed_at"] is not None
    assert case.pending_deadlines() == set()
    assert case.read(by="counselor")["allowed_events"] == []


def test_reopening_a_closed_case_brings_it_back_to_follow_up(open_case):
    case = open_case("moderate").walk_to("closed")
    detail = case.step("reopen")
    assert (detail["state"], detail["closed_at"]) == ("follow_up", None)
    assert case.pending_deadlines() == {"first_follow_up"}
    assert case.history_events()[-2:] == ["close", "reopen"]


# == 3. refusals change nothing =============================================================

@pytest.mark.parametrize("state, event, by, allowed", [
    ("reported", "close", "counselor", ["triage_support", "dispatch"]),
    ("reported", "confirm_arrival", "supervisor", ["dispatch"]),
    ("on_site", "refer_to_hospital", "counselor", ["contact_guardian"]),
    ("closed", "dispatch", "supervisor", ["reopen"]),
    ("withdrawn", "reopen", "counselor", []),
    ("follow_up", "no_such_event", "counselor", ["escalate"]),
])
def test_an_event_the_state_does_not_allow_is_a_conflict_listing_what_is_allowed(
        open_case, state, event, by, allowed):
    case = open_case("moderate").walk_to(state)
    response = refused(case, event, USUAL.get(event, (None, lambda c: {}))[1](case), by=by)
    assert response.status_code == 409
    assert (response.json["state"], response.json["allowed_events"]) == (state, allowed)


@pytest.mark.parametrize("state, event, by, allowed", [
    ("reported", "triage_support", "supervisor", ["dispatch"]),
    ("hospital_transfer", "confirm_arrival", "counselor", ["return_to_class", "start_leave"]),
    ("return_review", "approve_return", "counselor", []),
    ("on_leave", "withdraw", "counselor", ["apply_return"]),
    ("follow_up", "close", "counselor", ["escalate"]),
])
def test_an_event_the_callers_role_may_not_fire_is_forbidden_listing_what_they_may(
        open_case, state, event, by, allowed):
    case = open_case("moderate").walk_to(state)
    response = refused(case, event, USUAL[event][1](case), by=by)
    assert response.status_code == 403
    assert (response.json["state"], response.json["allowed_events"]) == (state, allowed)


@pytest.mark.parametrize("state, event, by", [
    ("reported", "dispatch", "volunteer"),
    ("reported", "dispatch", "outsider_counselor"),
    ("reported", "dispatch", "other_supervisor"),
    ("reported", "dispatch", "owner_counselor"),  # neither the owner nor on the team
    ("hospital_transfer", "confirm_arrival", "other_liaison"),
    ("on_leave", "apply_return", "liaison"),  # the hospital sees the case only in transfer
])
def test_someone_who_cannot_see_the_case_is_forbidden_and_learns_nothing_about_it(
        open_case, ctx, state, event, by):
    case = open_case().walk_to(state)
    response = refused(case, event, USUAL[event][1](case), by=by)
    assert response.status_code == 403
    assert "allowed_events" not in response.json and "state" not in response.json
    with ctx() as db:
        denied = db.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert [(d.actor_name, d.object_id) for d in denied] == [(f"t_{by}", str(case.id))]


def test_a_supervisor_who_owns_the_case_cannot_close_it(open_case, world):
    case = open_case("moderate")
    case.step("triage_support", {"risk_level": "moderate", "support_plan": "supervised plan",
                                 "plan_owner_id": world.users["supervisor"].id})
    assert case.detail["owner_id"] == world.users["supervisor"].id
    assert case.read()["allowed_events"] == ["escalate"]
    response = refused(case, "close", _close_data(case), by="supervisor")
    assert response.status_code == 403 and response.json["allowed_events"] == ["escalate"]


def test_a_liaison_of_another_hospital_cannot_confirm_arrival(open_case, world):
    case = open_case().walk_to("hospital_transfer")
    assert case.api("other_liaison").get(f"/api/cases/{case.id}").status_code == 403
    response = refused(case, "confirm_arrival", {"arrived_at": now_iso()}, by="other_liaison")
    assert response.status_code == 403


def test_a_liaison_of_an_earlier_referral_cannot_confirm_arrival_at_the_new_hospital(
        open_case, world):
    case = open_case().walk_to("hospital_transfer")  # first referred to H1
    case.step("return_to_class")
    case.step("escalate")
    case.step("contact_guardian")
    case.step("refer_to_hospital", {"hospital_id": world.orgs["H2"].id,
                                    "legal_basis": "guardian_consent"})
    assert case.api("liaison").get(f"/api/cases/{case.id}").status_code == 403
    response = refused(case, "confirm_arrival", {"arrived_at": now_iso()}, by="liaison")
    assert response.status_code == 403


def test_dispatch_without_a_named_responder_changes_nothing_and_names_the_field(open_case):
    case = open_case()
    response = refused(case, "dispatch", {"risk_level": "high", "emergency_services": []})
    assert response.status_code == 422 and set(response.json["fields"]) == {"responder"}


def _other(**fields):
    return lambda case: fields


@pytest.mark.parametrize("state, event, make_data, bad_fields", [
    ("reported", "dispatch", _other(risk_level="low", responder="", emergency_services=["999"]),
     {"risk_level", "responder", "emergency_services"}),
    ("reported", "dispatch", lambda c: {**_dispatch_data(c), "priority": "urgent"},
     {"priority"}),
    ("reported", "triage_support", lambda c: {
        "risk_level": "high", "support_plan": "plan",
        "plan_owner_id": c.world.users["counselor"].id}, {"risk_level"}),
    ("reported", "triage_support", lambda c: {
        "risk_level": "low", "support_plan": "plan",
        "plan_owner_id": c.world.users["outsider_counselor"].id}, {"plan_owner_id"}),
    ("reported", "triage_support", _other(), {"risk_level", "support_plan", "plan_owner_id"}),
    ("on_site", "contact_guardian", _other(arrived_at="2026-01-01T08:00:00", watcher="李"),
     {"arrived_at"}),
    ("on_site", "contact_guardian", lambda c: {"arrived_at": now_iso(hours=1), "watcher": "李"},
     {"arrived_at"}),
    ("guardian_contact", "refer_to_hospital", lambda c: {
        "hospital_id": c.world.orgs["S"].id, "legal_basis": "guardian_consent"},
     {"hospital_id"}),
    ("guardian_contact", "refer_to_hospital", lambda c: {
        "hospital_id": str(c.world.orgs["H1"].id), "legal_basis": "parents_said_so"},
     {"hospital_id", "legal_basis"}),
    ("hospital_transfer", "confirm_arrival", lambda c: {"arrived_at": now_iso(hours=2)},
     {"arrived_at"}),
    ("hospital_transfer", "start_leave", lambda c: {
        "kind": "suspension", "reason": "inpatient",
        "expected_end": utcnow().date().isoformat()}, {"expected_end"}),
    ("hospital_transfer", "start_leave", lambda c: {
        "kind": "sabbatical", "reason": "inpatient",
        "expected_end": (utcnow().date() + timedelta(days=3)).isoformat()}, {"kind"}),
    ("on_leave", "apply_return", lambda c: {
        "certificate_document_id": c.attach("recovery_certificate", hospital="H2"),
        "application_document_id": c.attach("return_application")},
     {"certificate_document_id"}),
    ("on_leave", "apply_return", lambda c: {
        "certificate_document_id": c.attach("recovery_certificate"),
        "application_document_id": c.attach("return_application")},
     {"certificate_document_id"}),
    ("on_leave", "apply_return", lambda c: {
        "certificate_document_id": c.attach("recovery_certificate", hospital="H1"),
        "application_document_id": c.attach("diagnosis")},
     {"application_document_id"}),
    ("return_review", "approve_return", _other(note=""), {"note"}),
    ("on_leave", "withdraw", _other(reason="bored"), {"reason"}),
    ("follow_up", "escalate", lambda c: {**_dispatch_data(c), "risk_level": "moderate"},
     {"risk_level", "reason"}),
    ("closed", "reopen", _other(), {"reason"}),
])
def test_missing_or_invalid_data_is_refused_naming_each_bad_field(
        open_case, state, event, make_data, bad_fields):
    case = open_case().walk_to(state)
    response = refused(case, event, make_data(case), by=USUAL[event][0])
    assert response.status_code == 422
    assert set(response.json["fields"]) == bad_fields, response.json["fields"]


def test_a_document_of_another_case_does_not_satisfy_this_one(open_case):
    other = open_case().walk_to("on_leave")
    certificate = other.attach("recovery_certificate", hospital="H1")
    case = open_case().walk_to("on_leave")
    response = refused(case, "apply_return", {
        "certificate_document_id": certificate,
        "application_document_id": case.attach("return_application")})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"certificate_document_id"}


def test_a_stale_version_is_a_conflict_naming_the_current_one(open_case):
    case = open_case()
    seen = case.version
    case.step("dispatch")
    response = refused(case, "contact_guardian", USUAL["contact_guardian"][1](case),
                       version=seen)
    assert response.status_code == 409
    assert response.json["current_version"] == case.version != seen
    assert response.json["allowed_events"] == ["contact_guardian"]


def test_closing_needs_the_minimum_of_follow_up_contacts(open_case):
    case = open_case("moderate").walk_to("follow_up")
    case.record_follow_ups(policy_min_follow_ups(case) - 1)
    response = refused(case, "close", {"note": "too early"}, by="supervisor")
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"follow_up_contacts"}
    case.record_follow_ups(1)
    assert case.step("close", {})["state"] == "closed"


def test_closing_is_refused_while_a_deadline_is_overdue(open_case):
    case = open_case("moderate").walk_to("follow_up")
    case.record_follow_ups(policy_min_follow_ups(case))
    case.make_overdue("follow_up")
    response = refused(case, "close", {}, by="supervisor")
    assert response.status_code == 422 and set(response.json["fields"]) == {"deadlines"}
    assert "下次跟踪" in response.json["fields"]["deadlines"]  # follow_up, by its label


def test_closing_too_early_and_late_names_both_problems(open_case):
    case = open_case("moderate").walk_to("follow_up")
    case.make_overdue("first_follow_up")
    response = refused(case, "close", {}, by="supervisor")
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"follow_up_contacts", "deadlines"}


# == 4. closing settles the deadlines =======================================================

def test_closing_cancels_every_deadline_still_pending(open_case):
    case = open_case().walk_to("guardian_contact")
    case.step("home_supervision")
    case.record_follow_ups(policy_min_follow_ups(case))
    assert case.pending_deadlines() == {"follow_up", "daily_report"}

    detail = case.step("close", {"note": "home supervision ended well"})
    assert (detail["state"], detail["daily_reports"]) == ("closed", False)
    assert case.deadlines() == {
        "responder_on_site": ["met"], "guardian_reached": ["met"],
        "first_follow_up": ["met"], "daily_report": ["cancelled"],
        "follow_up": ["met", "cancelled"]}


# == 5. the case list =======================================================================

@pytest.fixture
def listed_cases(open_case, world):
    """Three cases of centre A opened through the API, one of them with an overdue step."""
    high = open_case("high")
    high.step("dispatch")
    supported = open_case("moderate").walk_to("follow_up")
    for_owner = open_case("low", owner_id=world.users["owner_counselor"].id)
    high.make_overdue("responder_on_site")
    return {"high": high.id, "supported": supported.id, "for_owner": for_owner.id}


def listed(api, by: str, **query) -> set[int]:
    response = api(by).get("/api/cases", **query)
    assert response.status_code == 200, response.json
    return {case["id"] for case in response.json}


def test_the_case_list_filters_by_state_risk_owner_and_overdue(api, world, listed_cases):
    ours, r = listed_cases, world.records
    assert listed(api, "supervisor", state="follow_up") == {ours["supported"]}
    assert listed(api, "supervisor", state="on_site") == {ours["high"]}
    assert listed(api, "supervisor", risk="high") == {ours["high"], r["team_case"].id}
    assert listed(api, "supervisor", risk="low") == {ours["for_owner"]}
    assert listed(api, "supervisor", owner=world.users["owner_counselor"].id) == {
        ours["for_owner"], r["owned_case"].id, r["transfer_case"].id}
    assert listed(api, "supervisor", overdue="true") == {ours["high"]}
    assert listed(api, "supervisor", state="on_site", overdue="true", risk="low") == set()


def test_the_case_list_shows_only_cases_the_caller_may_see(api, world, listed_cases):
    ours, r = set(listed_cases.values()), world.records
    centre_a = ours | {r["team_case"].id, r["owned_case"].id, r["transfer_case"].id}
    assert listed(api, "supervisor") == centre_a
    assert listed(api, "counselor") == ours | {r["team_case"].id}  # owner or on-duty team
    assert listed(api, "owner_counselor") == {listed_cases["for_owner"], r["owned_case"].id,
                                              r["transfer_case"].id}
    assert listed(api, "other_supervisor") == {r["case_b"].id}
    assert listed(api, "outsider_counselor") == {r["case_b"].id}
    assert listed(api, "liaison") == {r["transfer_case"].id}
    assert listed(api, "volunteer") == set()
    assert listed(api, "other_supervisor", overdue="true") == set()


def test_an_unknown_risk_filter_is_refused_rather_than_a_server_error(api, app, monkeypatch,
                                                                     listed_cases):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    response = api("supervisor").get("/api/cases", risk="apocalyptic")
    assert response.status_code == 422
    assert "risk" in response.get_data(as_text=True)


# == 6. documents ===========================================================================

def test_a_signed_pdf_is_stored_with_its_size_and_hash(open_case, ctx):
    case = open_case()
    response = case.api("counselor").upload(case.id, "school_consent_form")
    assert response.status_code == 201
    assert (response.json["kind"], response.json["size"], response.json["content_type"]) == (
        "school_consent_form", len(PDF), "application/pdf")
    assert response.json["sha256"] == hashlib.sha256(PDF).hexdigest()
    with ctx() as db:
        stored = db.get(CaseDocument, response.json["id"])
        assert (stored.case_id, stored.content) == (case.id, PDF)


@pytest.mark.parametrize("content, content_type", [
    (b"just some text, not a scan of a signed form\n", "application/pdf"),
    (PDF, "image/png"),
    (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "application/pdf"),  # over 10 MB
    (b"", "application/pdf"),
])
def test_a_document_of_the_wrong_type_or_too_large_is_refused_and_nothing_is_stored(
        open_case, ctx, content, content_type):
    case = open_case()
    response = case.api("counselor").upload(case.id, "recovery_certificate", content=content,
                                            content_type=content_type)
    assert response.status_code == 422 and set(response.json["fields"]) == {"file"}
    with ctx() as db:
        assert count_rows(db, CaseDocument, case.id) == 0
        assert db.scalars(select(AuditEntry).where(
            AuditEntry.action == "case_document.attach")).all() == []


def test_a_document_needs_a_known_kind_and_a_real_issuing_hospital(open_case, world):
    case = open_case()
    caller = case.api("counselor")
    assert set(caller.upload(case.id, "selfie").json["fields"]) == {"kind"}
    response = caller.upload(case.id, "recovery_certificate", hospital_id=world.orgs["S"].id)
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"issued_by_hospital_id"}
    assert case.snapshot()["documents"] == 0


def test_guardian_attempts_are_logged_on_the_case(open_case, ctx):
    case = open_case().walk_to("guardian_contact")
    case.log_guardian_attempt(reached=False)
    case.log_guardian_attempt(reached=True)
    with ctx() as db:
        reached = db.scalars(select(GuardianContactAttempt.reached).where(
            GuardianContactAttempt.case_id == case.id).order_by(GuardianContactAttempt.id))
        assert list(reached) == [False, True]


# == 7. the workflow as data ================================================================

def test_the_workflow_lists_its_nine_states_and_fifteen_events(api):
    response = api("volunteer").get("/api/workflow")
    assert response.status_code == 200
    workflow = response.json
    assert tuple(workflow["states"]) == STATES and workflow["initial"] == "reported"
    assert tuple(event["name"] for event in workflow["events"]) == EVENTS
    assert all(event["from"] in STATES and event["to"] in STATES and event["roles"]
               for event in workflow["events"])
    by_name = {event["name"]: event for event in workflow["events"]}
    assert (by_name["confirm_arrival"]["from"], by_name["confirm_arrival"]["to"],
            by_name["confirm_arrival"]["roles"]) == ("hospital_transfer", "hospital_transfer",
                                                     ["hospital_liaison"])
    assert by_name["close"]["roles"] == ["supervisor"]
