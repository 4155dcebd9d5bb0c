"""The crisis workflow, driven at random at the service layer, keeps its invariants.

A Hypothesis rule-based state machine opens a fresh case per example (as ``t_counselor``,
on centre A's on-duty team) and then fires workflow events as every kind of user, with
data that satisfies the event's schema and guards (preparing the documents, contact
attempts and follow-ups a guard needs) or with broken, junk or missing data, and with the
current, a stale or no version. Between events it records follow-up contacts and guardian
contact attempts, attaches documents, lets time pass (pending deadlines are moved into
the past directly in the database) and runs the deadline poller.

Each step runs in an application context of its own (a fresh session, as a request would
get) and commits on success or rolls back on a ``DomainError``. An oracle written from
``state_machines.case_workflow``, the access rules and the policy predicts each event's
outcome (success, 403, 409 or 422); after every step the machine checks that

- the case is in one of the nine states, and the last history row says so;
- a committed event added one history row and one ``case.<event>`` audit entry for the
  case, moved the case to the event's target and raised its version by exactly one;
- a refused event changed nothing (case columns, version, history, audit entries,
  deadlines, referrals), neither before the rollback nor after it;
- a close happened only when the closing rules held at that moment (enough follow-up
  contacts, no pending deadline overdue, a supervisor who does not own the case) and
  left no pending deadline; a closed or withdrawn case never has a pending deadline.

The one known production bug it meets (a ``responder`` or ``watcher`` longer than its
VARCHAR(120) column, or holding NUL, is a 500 on PostgreSQL) is kept out of the machine's
data and asserted by a strict-xfail test at the end of this module.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest
from flask import g
from hypothesis import HealthCheck, Phase, event as note_event, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, invariant, rule,
                                 run_state_machine_as_test)
from sqlalchemy import func, select

from casework import deadlines, services, workflow
from casework.models import (Case, CaseDocument, CaseHistory, Deadline, DeadlineStatus,
                             FollowUpContact, GuardianContactAttempt, Referral)
from casework.policy import policy
from crisisline.accounts.models import User
from crisisline.audit.models import AuditEntry
from crisisline.audit.services import verify_chain
from crisisline.database import utcnow
from crisisline.errors import Conflict, DomainError, Forbidden, InvalidInput
from state_machines import case_workflow
from tests.conftest import TEST_DATABASE_URL, app_context
from tests.world import build_world

PDF = b"%PDF-1.4\n% a signed form\n"
ON_POSTGRES = bool(TEST_DATABASE_URL)

#: KNOWN BUG (strict-xfail test below): ``responder`` and ``watcher`` are VARCHAR(120) but
#: the schemas allow 2000 characters of any kind, so PostgreSQL raises ``DataError`` (a 500)
#: instead of a 422; the machine keeps them within the column and free of NUL
RESPONDER_WATCHER_COLUMN_LENGTH = 120

OK = "ok"
USERS = ("counselor", "owner_counselor", "outsider_counselor", "supervisor",
         "other_supervisor", "liaison", "other_liaison", "volunteer", "other_volunteer",
         "reporter", "admin")
CENTRE_A_MEMBERS = ("counselor", "owner_counselor", "supervisor", "volunteer",
                    "other_volunteer", "admin")
PLAN_OWNERS = ("counselor", "owner_counselor", "supervisor")  # counselors, supervisors of A
TEAM_MEMBERS = ("counselor",)  # the on-duty team of centre A, which every case is opened on
LIAISON_HOSPITAL = {"liaison": "H1", "other_liaison": "H2"}
EVENT_NAMES = tuple(event.name for event in case_workflow.EVENTS)

# Text without control characters: NUL in responder/watcher is the known bug above.
_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
TEXT = st.text(_ALPHABET, min_size=1, max_size=40)
SHORT_TEXT = st.text(_ALPHABET, min_size=1, max_size=RESPONDER_WATCHER_COLUMN_LENGTH)
MINUTES_AGO = st.integers(min_value=1, max_value=60 * 24 * 20)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# -- what the machine reads back ----------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """Everything about the case a workflow event may change (``now`` excepted)."""

    columns: tuple
    state: str
    version: int
    owner_id: int | None
    closed_at: datetime | None
    history: int
    last_history: tuple | None
    audit_actions: tuple  # sorted (action, count) of the case's own audit entries
    last_audit: tuple | None  # (action, actor_id, changes) of the case's latest entry
    deadlines: tuple  # (id, kind, due_at, status, settled_at)
    referrals: tuple  # (id, hospital_id, arrived_at)
    follow_ups: int = field(compare=False)
    failed_attempts: int = field(compare=False)
    reached_attempts: int = field(compare=False)
    documents: tuple = field(compare=False)  # (id, kind, issued_by_hospital_id)
    now: datetime = field(compare=False, default=None)

    @property
    def audit_total(self) -> int:
        return sum(count for _action, count in self.audit_actions)

    def audit_count(self, action: str) -> int:
        return dict(self.audit_actions).get(action, 0)

    def pending(self, *kinds: str) -> list[tuple]:
        return [d for d in self.deadlines
                if d[3] == DeadlineStatus.PENDING.value and (not kinds or d[1] in kinds)]

    def overdue(self) -> list[tuple]:
        """Past due and the step not yet taken: pending ones, and ones that fired."""
        return [d for d in self.deadlines if d[2] <= self.now and d[3] in (
            DeadlineStatus.PENDING.value, DeadlineStatus.FIRED.value)]

    def documents_of(self, kind: str, hospital_id: int | None = None) -> list[int]:
        return [d[0] for d in self.documents
                if d[1] == kind and (hospital_id is None or d[2] == hospital_id)]

    def column(self, name: str):
        return self.columns[CASE_COLUMNS.index(name)]

    def latest_guardian_reached_due(self) -> datetime | None:
        found = [d for d in self.deadlines if d[1] == "guardian_reached"]
        return max(found, key=lambda d: d[0])[2] if found else None


CASE_COLUMNS = ("state", "version", "owner_id", "risk_level", "responder", "watcher",
                "hospital_id", "legal_basis", "danger_to_others", "daily_reports",
                "leave_kind", "leave_expected_end", "closed_at")


def read_snapshot(db, case_id: int) -> Snapshot:
    """Read the case through the current session (call inside an app context)."""
    case = db.get(Case, case_id)
    db.refresh(case)
    history = list(db.scalars(select(CaseHistory).where(CaseHistory.case_id == case_id)
                              .order_by(CaseHistory.id)))
    last = history[-1] if history else None
    audit_rows = db.execute(
        select(AuditEntry.action, func.count()).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id))
        .group_by(AuditEntry.action)).all()
    last_audit = db.scalars(select(AuditEntry).where(
        AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id))
        .order_by(AuditEntry.seq.desc()).limit(1)).first()
    return Snapshot(
        last_audit=None if last_audit is None else (last_audit.action, last_audit.actor_id,
                                                    last_audit.changes),
        columns=tuple(_plain(getattr(case, name)) for name in CASE_COLUMNS),
        state=case.state, version=case.version, owner_id=case.owner_id,
        closed_at=case.closed_at, history=len(history),
        last_history=None if last is None else (last.event, last.from_state, last.to_state,
                                                last.actor_id),
        audit_actions=tuple(sorted((action, count) for action, count in audit_rows)),
        deadlines=tuple((d.id, d.kind, d.due_at, d.status.value, d.settled_at)
                        for d in db.scalars(select(Deadline).where(
                            Deadline.case_id == case_id).order_by(Deadline.id))),
        referrals=tuple((r.id, r.hospital_id, r.arrived_at)
                        for r in db.scalars(select(Referral).where(
                            Referral.case_id == case_id).order_by(Referral.id))),
        follow_ups=_follow_ups_since_reopen(db, case_id),
        failed_attempts=db.scalar(select(func.count(GuardianContactAttempt.id)).where(
            GuardianContactAttempt.case_id == case_id,
            GuardianContactAttempt.reached.is_(False))),
        reached_attempts=db.scalar(select(func.count(GuardianContactAttempt.id)).where(
            GuardianContactAttempt.case_id == case_id,
            GuardianContactAttempt.reached.is_(True))),
        documents=tuple((d.id, d.kind.value, d.issued_by_hospital_id)
                        for d in db.scalars(select(CaseDocument).where(
                            CaseDocument.case_id == case_id).order_by(CaseDocument.id))),
        now=utcnow())


def _follow_ups_since_reopen(db, case_id: int) -> int:
    """A reopened case needs follow-ups of its own before it may close again."""
    reopened = db.scalar(select(func.max(CaseHistory.occurred_at)).where(
        CaseHistory.case_id == case_id, CaseHistory.event == "reopen"))
    query = select(func.count(FollowUpContact.id)).where(FollowUpContact.case_id == case_id)
    if reopened is not None:
        query = query.where(FollowUpContact.created_at > reopened)
    return db.scalar(query)


def _plain(value):
    return getattr(value, "value", value)


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


# -- the world the machine acts in ---------------------------------------------------------

@dataclass
class Env:
    app: object
    uid: dict[str, int]
    org: dict[str, int]
    min_follow_ups: int  # the policy's min_follow_ups_to_close


def make_env(app) -> Env:
    with app_context(app) as db:
        world = build_world()
        db.commit()
        return Env(app=app, uid={key: user.id for key, user in world.users.items()},
                   org={key: org.id for key, org in world.orgs.items()},
                   min_follow_ups=policy().min_follow_ups_to_close)


# -- the oracle: who may do what, from the workflow table and the access rules -----------

def role_of(user: str) -> str:
    return {"counselor": "counselor", "owner_counselor": "counselor",
            "outsider_counselor": "counselor", "supervisor": "supervisor",
            "other_supervisor": "supervisor", "liaison": "hospital_liaison",
            "other_liaison": "hospital_liaison", "volunteer": "volunteer",
            "other_volunteer": "volunteer", "reporter": "reporter", "admin": "admin"}[user]


def liaison_view(env: Env, user: str, snap: Snapshot) -> bool:
    """A liaison sees the case while it is in transfer to their hospital, by the current
    (latest) referral; an earlier referral to them gives no view."""
    return (snap.state == "hospital_transfer" and bool(snap.referrals)
            and snap.referrals[-1][1] == env.org[LIAISON_HOSPITAL[user]])


def can_view(env: Env, user: str, snap: Snapshot) -> bool:
    role = role_of(user)
    if role == "counselor":
        return snap.owner_id == env.uid[user] or user in TEAM_MEMBERS
    if role == "supervisor":
        return user in CENTRE_A_MEMBERS
    if role == "hospital_liaison":
        return liaison_view(env, user, snap)
    return False


def can_edit(env: Env, user: str, snap: Snapshot) -> bool:
    return role_of(user) in ("counselor", "supervisor") and can_view(env, user, snap)


def may_fire(env: Env, user: str, event: case_workflow.Event, snap: Snapshot) -> bool:
    if role_of(user) not in event.roles:
        return False
    if event.name == "confirm_arrival":  # once per referral, by its hospital's liaison
        return can_view(env, user, snap) and snap.referrals[-1][2] is None
    if event.name == "close" and snap.owner_id == env.uid[user]:
        return False
    return can_edit(env, user, snap)


def expected_outcomes(env: Env, user: str, event_name: str, data_ok: bool | None,
                      version_mode: str, snap: Snapshot) -> set:
    """The outcomes ``fire_event`` may have, in the order it checks (see services.py)."""
    if not can_view(env, user, snap):
        return {Forbidden}
    if version_mode == "none":
        return {InvalidInput}
    if version_mode != "current":
        return {Conflict}
    event = case_workflow.EVENTS_BY_NAME.get(event_name)
    if event is None or event.source != snap.state:
        return {Conflict}
    if not may_fire(env, user, event, snap):
        return {Forbidden}
    return {OK, InvalidInput} if data_ok is None else {OK if data_ok else InvalidInput}


# -- data for each event: valid (with whether its guards hold now) and broken ------------

class DataMaker:
    """Builds an event's data from a snapshot; ``guard_ok`` says whether it should pass."""

    def __init__(self, env: Env, snap: Snapshot, draw):
        self.env, self.snap, self.draw = env, snap, draw

    def past(self) -> str:
        return iso(utcnow() - timedelta(minutes=self.draw(st.integers(1, 600))))

    def document(self, kind: str, hospital: str | None = None) -> tuple[int, bool]:
        hospital_id = self.env.org[hospital] if hospital else None
        found = self.snap.documents_of(kind, hospital_id)
        if found:
            return self.draw(st.sampled_from(found)), True
        return 10 ** 9, False

    def wrong_document(self, kind: str) -> int:
        others = [d[0] for d in self.snap.documents if d[1] != kind]
        return self.draw(st.sampled_from(others)) if others else 10 ** 9

    def document_or_bogus(self, kind: str, hospital: str) -> int:
        return self.document(kind, hospital)[0]

    def valid(self, name: str) -> tuple[dict, bool]:
        return getattr(self, name)()

    def triage_support(self):
        owner = self.draw(st.sampled_from(PLAN_OWNERS))
        return {"risk_level": self.draw(st.sampled_from(workflow.LOW_OR_MEDIUM)),
                "support_plan": self.draw(TEXT), "plan_owner_id": self.env.uid[owner]}, True

    def dispatch(self):
        return {"risk_level": self.draw(st.sampled_from(workflow.HIGH_OR_IMMINENT)),
                "responder": self.draw(SHORT_TEXT),
                "emergency_services": self.draw(st.lists(
                    st.sampled_from(workflow.EMERGENCY_SERVICES), unique=True))}, True

    def escalate(self):
        data, ok = self.dispatch()
        return {**data, "reason": self.draw(TEXT)}, ok

    def contact_guardian(self):
        return {"arrived_at": self.past(), "watcher": self.draw(SHORT_TEXT)}, True

    def refer_to_hospital(self):
        basis = self.draw(st.sampled_from(workflow.LEGAL_BASES))
        data = {"hospital_id": self.env.org[self.draw(st.sampled_from(("H1", "H2")))],
                "legal_basis": basis}
        ok = True
        if basis == "school_consent":
            waited = self.snap.latest_guardian_reached_due()
            ok = (waited is not None and waited <= self.snap.now
                  and self.snap.failed_attempts > 0 and self.snap.reached_attempts == 0
                  and bool(self.snap.documents_of("school_consent_form")))
        if basis == "police_assisted" or self.draw(st.booleans()):
            data.update(guardian_refused=True, danger_to_others=True,
                        police_reference=self.draw(TEXT))
            if basis != "police_assisted":
                data["police_reference"] = self.draw(st.one_of(st.none(), TEXT))
        if basis == "guardian_consent" and data.get("guardian_refused"):
            ok = False  # a refusing guardian gives no consent
        return data, ok

    def home_supervision(self):
        document, ok = self.document("guardian_acknowledgement")
        # danger to others, once recorded on the case, rules home supervision out
        ok = ok and not self.snap.column("danger_to_others")
        return {"danger_to_others": False, "guardian_refused_admission": True,
                "acknowledgement_document_id": document}, ok

    def confirm_arrival(self):
        return {"arrived_at": self.past()}, True

    def return_to_class(self):
        document, ok = self.document("parent_notice")
        return {"diagnosis_outcome": "fit_to_study", "parent_notice_document_id": document}, ok

    def start_leave(self):
        end = utcnow().date() + timedelta(days=self.draw(st.integers(1, 90)))
        return {"kind": self.draw(st.sampled_from(("leave", "suspension"))),
                "reason": self.draw(st.sampled_from(("home_rest", "inpatient",
                                                     "guardian_took_home"))),
                "expected_end": end.isoformat()}, True

    def apply_return(self):
        certificate, ok = self.document("recovery_certificate", "H1")
        application, ok2 = self.document("return_application")
        return {"certificate_document_id": certificate,
                "application_document_id": application}, ok and ok2

    def approve_return(self):
        return {"note": self.draw(TEXT)}, True

    reject_return = approve_return

    def withdraw(self):
        data = {"reason": self.draw(st.sampled_from(("leave_expired", "failed_review",
                                                     "family_decision")))}
        if self.draw(st.booleans()):
            data["note"] = self.draw(st.text(_ALPHABET, max_size=20))
        return data, True

    def close(self):
        ok = (self.snap.follow_ups >= self.env.min_follow_ups
              and not self.snap.overdue())
        data = {}
        if self.draw(st.booleans()):
            data["note"] = self.draw(st.text(_ALPHABET, max_size=20))
        return data, ok

    def reopen(self):
        return {"reason": self.draw(TEXT)}, True

    # broken data: every one of these must be refused with InvalidInput
    def broken(self, name: str) -> tuple[dict, str]:
        data, _ok = self.valid(name)
        schema = workflow.HANDLERS[name][0]()
        required = [key for key, item in schema.fields.items() if item.required]
        semantic = SEMANTIC_BREAKS.get(name, {})
        kinds = ["unknown_field", "wrong_type"] + (["missing"] if required else [])
        kinds += [f"semantic:{key}" for key in semantic]
        kind = self.draw(st.sampled_from(kinds))
        if kind == "unknown_field":
            data["unexpected"] = self.draw(st.one_of(st.integers(), TEXT))
        elif kind == "missing":
            del data[self.draw(st.sampled_from(required))]
        elif kind == "wrong_type":
            key = self.draw(st.sampled_from(sorted(schema.fields)))
            data[key] = next(WRONG_TYPE[kind.__name__] for kind in type(schema.fields[key]).__mro__
                             if kind.__name__ in WRONG_TYPE)  # our fields extend these
        else:
            data.update(semantic[kind.split(":", 1)[1]](self))
        return data, kind


WRONG_TYPE = {"String": 12345, "Integer": "12", "Boolean": "maybe", "List": "120",
              "AwareDateTime": "yesterday", "Date": "soon"}

SEMANTIC_BREAKS = {
    "triage_support": {
        "risk_level": lambda m: {"risk_level": "high"},
        "empty_plan": lambda m: {"support_plan": ""},
        "owner_elsewhere": lambda m: {"plan_owner_id": m.env.uid[m.draw(st.sampled_from(
            ("outsider_counselor", "other_supervisor", "liaison", "reporter")))]},
        "owner_not_staff": lambda m: {"plan_owner_id": m.env.uid[m.draw(st.sampled_from(
            ("volunteer", "other_volunteer", "admin")))]},
        "no_such_owner": lambda m: {"plan_owner_id": 10 ** 9},
    },
    "dispatch": {
        "risk_level": lambda m: {"risk_level": "low"},
        "no_responder": lambda m: {"responder": ""},
        "unknown_service": lambda m: {"emergency_services": ["999"]},
    },
    "escalate": {
        "risk_level": lambda m: {"risk_level": "moderate"},
        "no_reason": lambda m: {"reason": ""},
    },
    "contact_guardian": {
        "future": lambda m: {"arrived_at": iso(utcnow() + timedelta(hours=2))},
        "naive": lambda m: {"arrived_at": utcnow().replace(tzinfo=None).isoformat()},
        "no_watcher": lambda m: {"watcher": ""},
    },
    "refer_to_hospital": {
        "not_a_hospital": lambda m: {"hospital_id": m.env.org["A"]},
        "no_such_basis": lambda m: {"legal_basis": "teacher_said_so"},
        "police_without_refusal": lambda m: {
            "legal_basis": "police_assisted", "guardian_refused": False,
            "danger_to_others": True, "police_reference": "110-1"},
        "police_without_danger": lambda m: {
            "legal_basis": "police_assisted", "guardian_refused": True,
            "danger_to_others": False, "police_reference": "110-1"},
        "police_without_reference": lambda m: {
            "legal_basis": "police_assisted", "guardian_refused": True,
            "danger_to_others": True, "police_reference": m.draw(st.sampled_from(
                (None, "", "   ")))},
    },
    "home_supervision": {
        "danger_to_others": lambda m: {"danger_to_others": True},
        "not_refused": lambda m: {"guardian_refused_admission": False},
        "no_document": lambda m: {"acknowledgement_document_id": 10 ** 9},
        "wrong_document": lambda m: {"acknowledgement_document_id": m.wrong_document(
            "guardian_acknowledgement")},
    },
    "confirm_arrival": {
        "future": lambda m: {"arrived_at": iso(utcnow() + timedelta(days=1))},
    },
    "return_to_class": {
        "not_fit": lambda m: {"diagnosis_outcome": m.draw(st.sampled_from(
            ("needs_leave", "needs_admission")))},
        "no_notice": lambda m: {"parent_notice_document_id": 10 ** 9},
        "wrong_document": lambda m: {"parent_notice_document_id": m.wrong_document(
            "parent_notice")},
    },
    "start_leave": {
        "ends_already": lambda m: {"expected_end": (utcnow().date() - timedelta(
            days=m.draw(st.integers(0, 30)))).isoformat()},
        "no_such_kind": lambda m: {"kind": "sabbatical"},
    },
    "apply_return": {
        "no_certificate": lambda m: {"certificate_document_id": 10 ** 9},
        "uncertified_hospital": lambda m: {"certificate_document_id": m.document_or_bogus(
            "recovery_certificate", "H2")},
        "no_application": lambda m: {"application_document_id": m.wrong_document(
            "return_application")},
    },
    "approve_return": {"empty_note": lambda m: {"note": ""}},
    "reject_return": {"empty_note": lambda m: {"note": ""}},
    "withdraw": {"no_such_reason": lambda m: {"reason": "bored"}},
    "reopen": {"empty_reason": lambda m: {"reason": ""}},
}


# -- the machine ----------------------------------------------------------------------------

class CaseWorkflow(RuleBasedStateMachine):
    env: Env  # set by the test before the machine runs

    def __init__(self):
        super().__init__()
        self.connection = self.env.app.extensions["crisisline.db_bind"]
        self.example = self.connection.begin_nested()  # this example's data, rolled back
        self.transitions = 0  # committed workflow events
        self.initial_version = None
        with self.context(self.env.uid["counselor"]) as (db, counselor):
            case = services.open_case(counselor, source="hotline_contact",
                                      risk_level="high", summary="stateful test")
            db.commit()
            self.case_id = case.id
        self.last = self.snapshot()
        self.initial_version = self.last.version
        assert self.last.state == case_workflow.INITIAL
        assert self.last.history == 1 and self.last.audit_count("case.open") == 1

    def teardown(self):
        try:
            with app_context(self.env.app) as db:
                report = verify_chain(db())
            assert report.ok, report
        finally:
            if self.example.is_active:
                self.example.rollback()

    # helpers --------------------------------------------------------------------------
    def context(self, user_id: int):
        machine = self

        class _Step:
            def __enter__(self):
                self._ctx = app_context(machine.env.app)
                db = self._ctx.__enter__()
                actor = db.get(User, user_id)
                g.audit_actor = actor
                return db, actor

            def __exit__(self, *exc):
                return self._ctx.__exit__(*exc)

        return _Step()

    def snapshot(self) -> Snapshot:
        with app_context(self.env.app) as db:
            return read_snapshot(db, self.case_id)

    def current(self) -> Snapshot:
        """The case as the last step left it (every step reads it back after acting, and
        nothing else writes), as of now."""
        return replace(self.last, now=utcnow())

    def quietly(self, user: str, action, *args, **kwargs):
        """A supporting step that must succeed and leave the workflow alone."""
        before = self.current()
        with self.context(self.env.uid[user]) as (db, actor):
            action(actor, self.case_id, *args, **kwargs)
            db.commit()
        after = self.snapshot()
        assert (after.state, after.version, after.history, after.audit_actions) == (
            before.state, before.version, before.history, before.audit_actions), action
        self.last = after

    def attach(self, kind: str, hospital: str | None = None) -> None:
        self.quietly("counselor", services.attach_document, kind=kind,
                     filename=f"{kind}.pdf", content=PDF, content_type="application/pdf",
                     issued_by_hospital_id=self.env.org[hospital] if hospital else None)

    def fire(self, user: str, event_name: str, data, data_ok: bool | None,
             version_mode: str = "current", label: str = "") -> None:
        before = self.current()
        expected = expected_outcomes(self.env, user, event_name, data_ok, version_mode, before)
        version = {"current": before.version, "stale": before.version - 1,
                   "ahead": before.version + 1, "none": None}[version_mode]
        in_session, queued_audit, refusal = None, None, ""
        with self.context(self.env.uid[user]) as (db, actor):
            try:
                services.fire_event(actor, self.case_id, event_name, copy.deepcopy(data),
                                    version)
            except DomainError as error:
                outcome, refusal = type(error), f" ({error.message}: {error.details})"
                db.flush()  # whatever the refused event left in the session, in the DB
                in_session = read_snapshot(db, self.case_id)
                queued_audit = list(db.info.get("audit_pending", []))
                db.rollback()
            else:
                outcome = OK
                db.commit()
        after = self.snapshot()
        self.last = after
        name = getattr(outcome, "__name__", outcome)
        note_event(f"{event_name}: {name}")
        story = (f"{event_name} as {user} ({label}, version {version_mode}) in state "
                 f"{before.state}: got {name}{refusal}, the oracle expected one of "
                 f"{sorted(getattr(o, '__name__', o) for o in expected)}; data={data!r}")
        assert outcome in expected, story

        if outcome is not OK:
            assert in_session == before, f"refused, yet changed before rollback: {story}"
            assert not queued_audit, f"refused, yet audit entries queued: {story}"
            assert after == before, f"refused, yet changed: {story}"
            return

        self.transitions += 1
        event = case_workflow.EVENTS_BY_NAME[event_name]
        assert before.state == event.source, story
        assert after.state == event.target, story
        assert after.history == before.history + 1, story
        assert after.last_history == (event_name, before.state, after.state,
                                      self.env.uid[user]), story
        assert after.audit_total == before.audit_total + 1, story
        assert after.audit_count(f"case.{event_name}") == (
            before.audit_count(f"case.{event_name}") + 1), story
        assert after.version == before.version + 1, story
        action, actor_id, changes = after.last_audit
        assert (action, actor_id) == (f"case.{event_name}", self.env.uid[user]), story
        for name in CASE_COLUMNS[2:]:  # every field the event changed, old and new
            old, new = before.column(name), after.column(name)
            if old != new:
                assert changes.get(name) == {"old": _iso(old), "new": _iso(new)}, (
                    f"audit entry misses the change of {name}: {changes}; {story}")
        if after.state != before.state:
            assert changes.get("state") == {"old": before.state, "new": after.state}, story
        if event.target == "follow_up":
            assert after.pending(*deadlines.FOLLOW_UP_KINDS), (
                f"entered follow-up without a follow-up deadline: {story}")
        if event_name == "escalate":
            assert not after.pending(*deadlines.FOLLOW_UP_KINDS, "daily_report"), story
        if event_name == "close":
            # the closing rules held at the moment of closing (``before.now`` is earlier
            # than the service's clock, so anything overdue then was overdue at the check)
            assert before.follow_ups >= self.env.min_follow_ups, story
            assert not before.overdue(), story
            assert role_of(user) == "supervisor" and before.owner_id != self.env.uid[user], story
            assert after.closed_at is not None and not after.pending(), story
        if event_name == "reopen":
            assert after.closed_at is None, story

    # rules: workflow events ---------------------------------------------------------------
    def fire_allowed(self, data, prepare: bool, mode: str = "valid") -> None:
        """An event that leaves the current state, mostly by someone who may fire it."""
        state = self.current().state
        choices = case_workflow.events_from(state)
        if not choices:  # withdrawn: nothing leaves it
            self.fire(data.draw(st.sampled_from(USERS)), data.draw(st.sampled_from(
                EVENT_NAMES)), {}, None, label="from a final state")
            return
        event = data.draw(st.sampled_from(choices))
        if prepare:
            self.prepare(event.name, data)
        snap = self.current()
        permitted = [user for user in USERS if may_fire(self.env, user, event, snap)]
        if permitted and data.draw(st.integers(0, 9)) > 0:
            user = data.draw(st.sampled_from(permitted))
        else:
            user = data.draw(st.sampled_from(USERS))
        payload, ok, label = self.make_data(event.name, mode, snap, data)
        self.fire(user, event.name, payload, ok, label=label)

    def make_data(self, name: str, mode: str, snap: Snapshot, data) -> tuple:
        """(data, whether it should pass the schema and guards, a label for messages)"""
        if mode == "valid":
            payload, ok = DataMaker(self.env, snap, data.draw).valid(name)
            return payload, ok, "valid data"
        if mode == "broken":
            payload, label = DataMaker(self.env, snap, data.draw).broken(name)
            return payload, False, f"broken data: {label}"
        if mode == "junk":
            return data.draw(st.dictionaries(TEXT, st.one_of(
                st.none(), st.booleans(), st.integers(), TEXT), max_size=3)), None, "junk"
        return None, None if name == "close" else False, "no data"

    @rule(data=st.data(), burst=st.integers(1, 3))
    def work_the_case(self, data, burst):
        """A few allowed events in a row with valid data, so deep states are reached."""
        for _ in range(burst):
            self.fire_allowed(data, prepare=data.draw(st.booleans()))

    @rule(data=st.data(), prepare=st.booleans(),
          mode=st.sampled_from(("broken", "broken", "junk", "none")))
    def fire_an_allowed_event_with_bad_data(self, data, prepare, mode):
        self.fire_allowed(data, prepare, mode)

    @rule(data=st.data())
    def fire_anything(self, data):
        """Any event (or none that exists), as anyone, with any data and any version."""
        user = data.draw(st.sampled_from(USERS))
        name = data.draw(st.sampled_from(EVENT_NAMES + ("teleport", "")))
        version_mode = data.draw(st.sampled_from(("current", "current", "stale", "ahead",
                                                  "none")))
        snap = self.current()
        mode = data.draw(st.sampled_from(("valid", "broken", "junk", "none")))
        if name in case_workflow.EVENTS_BY_NAME:
            payload, ok, label = self.make_data(name, mode, snap, data)
        else:
            payload, ok, label = {}, None, "unknown event"
        self.fire(user, name, payload, ok, version_mode, label)

    def prepare(self, event_name: str, data) -> None:
        """Do first what the event's guards need, as a careful counselor would."""
        snap = self.current()
        if event_name == "refer_to_hospital":
            if not snap.documents_of("school_consent_form"):
                self.attach("school_consent_form")
            if not snap.failed_attempts:
                self.quietly("counselor", services.record_guardian_attempt, reached=False,
                             note="no answer")
            self.time_passes_for(("guardian_reached",))
        elif event_name == "home_supervision" and not snap.documents_of(
                "guardian_acknowledgement"):
            self.attach("guardian_acknowledgement")
        elif event_name == "return_to_class" and not snap.documents_of("parent_notice"):
            self.attach("parent_notice")
        elif event_name == "apply_return":
            if not snap.documents_of("recovery_certificate", self.env.org["H1"]):
                self.attach("recovery_certificate", "H1")
            if not snap.documents_of("return_application"):
                self.attach("return_application")
        elif event_name == "close":
            for _ in range(self.env.min_follow_ups - snap.follow_ups):
                self.quietly(data.draw(st.sampled_from(("counselor", "supervisor"))),
                             services.record_follow_up, kind="phone", outcome="well",
                             occurred_at=utcnow() - timedelta(minutes=5))
            self.run_poller()

    # rules: what happens around the workflow --------------------------------------------
    @rule(user=st.sampled_from(("counselor", "supervisor")),
          kind=st.sampled_from(("phone", "interview", "home_visit")), minutes_ago=MINUTES_AGO)
    def record_follow_up(self, user, kind, minutes_ago):
        self.quietly(user, services.record_follow_up, kind=kind, outcome="talked",
                     occurred_at=utcnow() - timedelta(minutes=minutes_ago))

    @rule(reached=st.booleans())
    def record_guardian_attempt(self, reached):
        self.quietly("counselor", services.record_guardian_attempt, reached=reached)

    @rule(kind=st.sampled_from(("school_consent_form", "guardian_acknowledgement",
                                "parent_notice", "recovery_certificate",
                                "return_application", "diagnosis", "other")),
          hospital=st.sampled_from((None, "H1", "H2")))
    def attach_document(self, kind, hospital):
        self.attach(kind, hospital)

    @rule(data=st.data())
    def time_passes(self, data):
        """Simulate time passing: some pending deadlines of the case fall due."""
        pending = self.current().pending()
        if not pending:
            return
        chosen = data.draw(st.lists(st.sampled_from(pending), min_size=1, unique=True))
        self.move_into_past([d[0] for d in chosen], data.draw(MINUTES_AGO))

    def time_passes_for(self, kinds: tuple[str, ...]) -> None:
        self.move_into_past([d[0] for d in self.current().pending(*kinds)], 90)

    def move_into_past(self, deadline_ids: list[int], minutes: int) -> None:
        before = self.current()
        with app_context(self.env.app) as db:
            for deadline_id in deadline_ids:
                db.get(Deadline, deadline_id).due_at = utcnow() - timedelta(minutes=minutes)
            db.commit()
        self.last = self.snapshot()
        assert (self.last.state, self.last.version) == (before.state, before.version)

    @rule()
    def poller(self):
        self.run_poller()

    def run_poller(self) -> None:
        before = self.current()
        with app_context(self.env.app) as db:
            deadlines.fire_due()
            db.commit()
        after = self.snapshot()
        still = {d[0] for d in after.pending()}
        assert not [d for d in before.overdue() if d[0] in still], (
            "the poller left a deadline pending that was overdue before it ran")
        assert (after.state, after.version, after.history, after.audit_actions) == (
            before.state, before.version, before.history, before.audit_actions)
        self.last = after

    # invariants (checked on the snapshot the last step took) ------------------------------
    @invariant()
    def state_is_declared(self):
        assert self.last.state in case_workflow.STATES
        assert self.last.last_history[2] == self.last.state

    @invariant()
    def one_history_row_and_audit_entry_per_event(self):
        events = self.last.audit_total - self.last.audit_count("case.open")
        assert self.last.history == 1 + self.transitions
        assert events == self.transitions

    @invariant()
    def version_counts_the_events(self):
        assert self.last.version == self.initial_version + self.transitions

    @invariant()
    def a_finished_case_waits_for_nothing(self):
        if self.last.state in case_workflow.FINAL:
            assert not self.last.pending(), self.last.deadlines
            assert self.last.closed_at is not None


def run_machine(app, **overrides) -> None:
    CaseWorkflow.env = make_env(app)
    options = dict(max_examples=30, stateful_step_count=25, deadline=None,
                   # the explain phase traces every line SQLAlchemy runs: a failure took
                   # 90 s to report with it, 4 s without
                   phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                           Phase.shrink],
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.filter_too_much])
    options.update(overrides)
    run_state_machine_as_test(CaseWorkflow, settings=settings(**options))


def test_the_case_workflow_keeps_its_invariants(app):
    run_machine(app)


# -- fixed sequences: a deep path, and the known bug ----------------------------------

class Script:
    """A case driven step by step, as the machine does it."""

    def __init__(self, app):
        self.env = make_env(app)
        self.app = app
        with app_context(app) as db:
            case = services.open_case(self.user(db, "counselor"), source="hotline_contact",
                                      risk_level="high")
            db.commit()
            self.case_id = case.id

    def user(self, db, key):
        actor = db.get(User, self.env.uid[key])
        g.audit_actor = actor
        return actor

    def case(self, db) -> Case:
        return db.get(Case, self.case_id)

    def fire(self, user: str, event: str, data: dict) -> None:
        """Fire with the current version and commit, as the API does."""
        with app_context(self.app) as db:
            services.fire_event(self.user(db, user), self.case_id, event, data,
                                self.case(db).version)
            db.commit()

    def attach(self, kind: str) -> int:
        with app_context(self.app) as db:
            document = services.attach_document(
                self.user(db, "counselor"), self.case_id, kind=kind, filename="f.pdf",
                content=PDF, content_type="application/pdf")
            db.commit()
            return document.id

    def to_hospital_transfer(self, hospital: str) -> None:
        self.fire("counselor", "dispatch", {"risk_level": "high", "responder": "王老师",
                                            "emergency_services": []})
        self.fire("counselor", "contact_guardian", {"arrived_at": iso(utcnow()),
                                                    "watcher": "李老师"})
        self.fire("counselor", "refer_to_hospital", {"hospital_id": self.env.org[hospital],
                                                     "legal_basis": "guardian_consent"})


def test_only_the_current_hospitals_liaison_may_confirm_arrival(app):
    """A path ten steps deep that the machine seldom walks: a second transfer, elsewhere."""
    script = Script(app)
    script.to_hospital_transfer("H1")
    notice = script.attach("parent_notice")
    script.fire("counselor", "return_to_class", {"diagnosis_outcome": "fit_to_study",
                                                 "parent_notice_document_id": notice})
    script.fire("counselor", "escalate", {"risk_level": "imminent", "responder": "王老师",
                                          "emergency_services": ["120"], "reason": "again"})
    script.fire("counselor", "contact_guardian", {"arrived_at": iso(utcnow()),
                                                  "watcher": "李老师"})
    script.fire("counselor", "refer_to_hospital", {"hospital_id": script.env.org["H2"],
                                                   "legal_basis": "guardian_consent"})
    with app_context(app) as db:
        with pytest.raises(Forbidden):  # H1's liaison: only an earlier referral was theirs
            services.fire_event(script.user(db, "liaison"), script.case_id,
                                "confirm_arrival", {"arrived_at": iso(utcnow())},
                                script.case(db).version)
        db.rollback()
    script.fire("other_liaison", "confirm_arrival", {"arrived_at": iso(utcnow())})
    with app_context(app) as db:
        referrals = db.scalars(select(Referral).where(Referral.case_id == script.case_id)
                               .order_by(Referral.id)).all()
        assert [(r.hospital_id, r.arrived_at is not None) for r in referrals] == [
            (script.env.org["H1"], False), (script.env.org["H2"], True)]


LONG = "王" * (RESPONDER_WATCHER_COLUMN_LENGTH + 1)


@pytest.mark.parametrize("field, value", [("responder", LONG), ("watcher", LONG),
                                          ("responder", "王老师\x00")],
                         ids=["long-responder", "long-watcher", "nul-responder"])
def test_a_responder_or_watcher_is_stored_as_sent_or_refused_by_name(app, field, value):
    script = Script(app)
    steps = [("dispatch", {"risk_level": "high", "responder": "王老师",
                           "emergency_services": []}),
             ("contact_guardian", {"arrived_at": iso(utcnow()), "watcher": "李老师"})]
    steps = steps[:1] if field == "responder" else steps
    event, data = steps[-1]
    for earlier, earlier_data in steps[:-1]:
        script.fire("counselor", earlier, earlier_data)
    try:
        script.fire("counselor", event, {**data, field: value})
    except InvalidInput as error:
        assert field in error.fields
    else:
        with app_context(app) as db:
            assert getattr(script.case(db), field) == value
