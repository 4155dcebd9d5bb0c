"""Casework services: opening cases, applying workflow events, and what hangs off a case.

Every function takes the acting user, ids and plain values; none commits. Applying an
event checks, in this order, and changes nothing if any check fails: the caller may see
the case (403), the version they saw is current (409), the event exists and leaves the
case's state (409, listing the allowed events), the caller may fire it (403), the event's
data and the policy's rules for it (422, naming each field).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import marshmallow as ma
from flask import has_request_context, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from casework import deadlines, workflow
from casework.policy import policy
from casework.models import (Alert, Case, CaseDocument, CaseHistory, CaseNote, CaseSource,
                             DocumentKind, FollowUpContact, FollowUpKind,
                             GuardianContactAttempt, Guardian, Referral, RiskLevel,
                             Student)
from crisisline import audit
from crisisline.access.rules import EDIT, VIEW, can, hospitals_following, may_break_glass
from crisisline.access.services import open_record
from crisisline.accounts.models import Organisation, OrgKind, Role, Team, User
from crisisline.database import db, utcnow
from crisisline.errors import Conflict, Forbidden, Hidden, InvalidInput, NotFound
from crisisline.i18n import EVENT_LABELS, RECORD_LABELS, STATE_LABELS, label
from crisisline.realtime import (case_room, emit_after_commit, hospital_room,
                                 supervisors_room, team_room, user_room)
from state_machines import case_workflow

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
DOCUMENT_SIGNATURES = {  # content types we accept, recognised by their first bytes
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}


def get_case(actor: User, case_id: int, action: str = VIEW) -> Case:
    case = db.get(Case, case_id)
    if case is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["case"],
                          id=case_id))
    if not can(actor, action, case):
        raise Forbidden(_l("you may not open this %(record)s", record=RECORD_LABELS["case"])
                        if action == VIEW else _l("you may not change this case"),
                        object_type="case", object_id=case.id,
                        break_glass_allowed=action == VIEW and may_break_glass(actor, case))
    return case


def open_case_of(student_id: int | None, *, but: int | None = None) -> Case | None:
    """The student's open case (一生一案: there is at most one), other than case ``but``."""
    if student_id is None:
        return None
    query = select(Case).where(Case.student_id == student_id,
                               Case.state.not_in(case_workflow.FINAL))
    if but is not None:
        query = query.where(Case.id != but)
    return db.scalar(query.order_by(Case.id).limit(1))


def _refuse_second_case(student_id: int | None, *, but: int | None = None) -> None:
    """One student, one open case: a second is refused, pointing to the open one (its
    number only; whether its file may be read is for the access rules)."""
    if student_id is not None:  # concurrent openings for one student queue here
        db.scalar(select(Student.id).where(Student.id == student_id).with_for_update())
    existing = open_case_of(student_id, but=but)
    if existing is not None:
        raise Conflict(_l("this student already has an open case: #%(id)d", id=existing.id),
                       case_id=existing.id, case_url=url_for(
                           "casework.case_page", record_id=existing.id)
                       if has_request_context() else None)


def open_case(actor: User, *, source: str, risk_level: str, summary: str = "",
              student_id: int | None = None, owner_id: int | None = None,
              student_not_identified: bool = False) -> Case:
    """Open a case in ``reported`` at the actor's centre, for its on-duty team; without a
    student, ``student_not_identified`` records that nobody could tell who they are (the
    opening step's record says so)."""
    errors = {}
    if actor.role not in (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR):
        raise Forbidden(_l("only hotline staff open cases"))
    centre_ids = sorted(actor.centre_ids)
    if not centre_ids:
        raise Forbidden(_l("you belong to no hotline centre"))
    if source not in {s.value for s in CaseSource}:
        errors["source"] = _l("choose one of the options offered")
    if risk_level not in {r.value for r in RiskLevel}:
        errors["risk_level"] = _l("choose one of the options offered")
    student = db.get(Student, student_id) if student_id is not None else None
    if student_id is not None and (student is None or student.school.centre_id != centre_ids[0]):
        errors["student_id"] = _l("no such student at a school your centre serves")
    owner = db.get(User, owner_id) if owner_id is not None else None
    if owner_id is not None and (owner is None or owner.role != Role.COUNSELOR
                                 or centre_ids[0] not in owner.centre_ids):
        errors["owner_id"] = _l("must be a counselor of your centre")
    if student_id is not None and student_not_identified:
        errors["student_not_identified"] = _l("choose a student, or say that the student "
                                              "was not identified: not both")
    if errors:
        raise InvalidInput(errors)
    if owner is None and actor.role == Role.COUNSELOR:
        owner = actor
    return start_case(actor, centre_ids[0], source=CaseSource(source),
                      risk_level=RiskLevel(risk_level), summary=summary, student=student,
                      owner=owner, student_not_identified=student_not_identified)


def start_case(actor: User, centre_id: int, *, source: CaseSource, risk_level: RiskLevel,
               summary: str = "", student: Student | None = None, owner: User | None = None,
               student_not_identified: bool = False) -> Case:
    """Open a case in ``reported`` at ``centre_id``, for its on-duty team (and ``owner``),
    reported by ``actor``: the caller has decided that ``actor`` may (a hotline worker
    through :func:`open_case`; the school network for a student it graded at high risk).
    One student, one open case: a second is refused, pointing to the open one."""
    student_id = student.id if student is not None else None
    _refuse_second_case(student_id)
    team = db.scalar(select(Team).where(Team.centre_id == centre_id).order_by(Team.id))
    case = Case(centre_id=centre_id, student_id=student_id, source=source,
                risk_level=risk_level, summary=summary or "",
                owner_id=owner.id if owner else None, team_id=team.id if team else None,
                reported_by_id=actor.id, state=case_workflow.INITIAL)
    db.add(case)
    audit.record("case.open", case, changes=audit.diff(case))  # the diff, before the flush
    db.flush()
    db.add(CaseHistory(case_id=case.id, event="open", from_state=None,
                       to_state=case.state, actor_id=actor.id,
                       data={"source": source.value, "risk_level": risk_level.value,
                             **({"student_not_identified": True}
                                if student_not_identified else {})}))
    if student is not None:  # who opened a case on whom: the student's file opens with it
        audit.record("student.open_case", student, changes={"case_id": {"new": case.id}})
    announce(case)
    return case


def allowed_events(actor: User, case: Case) -> list[str]:
    """The events ``actor`` may fire on ``case`` now (data requirements aside)."""
    return [event.name for event in case_workflow.events_from(case.state)
            if _may_fire(actor, case, event)]


def fire_event(actor: User, case_id: int, event_name: str, data: dict | None,
               version: int | None) -> Case:
    """Apply a workflow event with its data; the history row and audit entry go with it."""
    case = db.get(Case, case_id)
    if case is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["case"],
                          id=case_id))
    if not can(actor, VIEW, case):
        raise Forbidden(_l("you may not act on this case"), object_type="case",
                        object_id=case.id)
    if version is None:
        raise InvalidInput({"version": _l("send the case version you are acting on")})
    if version != case.version:
        raise Conflict(_l("the case has changed since you loaded it; reload it and try again"),
                       current_version=case.version,
                       allowed_events=allowed_events(actor, case))
    event = case_workflow.EVENTS_BY_NAME.get(event_name)
    allowed = allowed_events(actor, case)
    if event is None or event.source != case.state:
        raise Conflict(_l("“%(event)s” is not possible while the case is “%(state)s”",
                          event=label(EVENT_LABELS, event_name),
                          state=label(STATE_LABELS, case.state)),
                       state=case.state, allowed_events=allowed)
    if not _may_fire(actor, case, event):
        raise Forbidden(_l("you may not take the step “%(event)s” on this case",
                           event=label(EVENT_LABELS, event_name)), state=case.state,
                        allowed_events=allowed)
    if case.state in case_workflow.FINAL and event.target not in case_workflow.FINAL:
        _refuse_second_case(case.student_id, but=case.id)  # reopening
    schema, apply = workflow.HANDLERS[event.name]
    try:
        values = schema().load(data or {})
    except ma.ValidationError as error:
        raise InvalidInput(error.messages) from None
    from_state = case.state
    with db.no_autoflush:  # one UPDATE at the end: one new version, one complete diff
        apply(case, values, actor)
        case_workflow.bind(case)
        case.trigger(event.name)
        case.updated_at = utcnow()  # an event that keeps the state moves the version on too
    db.add(CaseHistory(case_id=case.id, event=event.name, from_state=from_state,
                       to_state=case.state, actor_id=actor.id, data=schema().dump(values)))
    audit.record(f"case.{event.name}", case, changes=audit.diff(case))
    announce(case)
    return case


def history(actor: User, case_id: int) -> list[CaseHistory]:
    return case_file(actor, case_id, "history").history


def case_file(actor: User, case_id: int, part: str) -> Case:
    """The case with everything in it, ``part`` of it read (audited): for those who work
    the case, not a hospital liaison (who sees a case in transfer only to confirm the
    arrival)."""
    case = open_record(actor, "case", case_id, part=part)
    if actor.role == Role.HOSPITAL_LIAISON:
        raise Forbidden(_l("hospital liaisons see the referral, not the case file"),
                        object_type="case", object_id=case.id)
    return case


def add_note(actor: User, case_id: int, body: str) -> CaseNote:
    case = get_case(actor, case_id, EDIT)
    if not (body or "").strip():
        raise InvalidInput({"body": _l("a note cannot be empty")})
    note = CaseNote(case_id=case.id, author_id=actor.id, body=body.strip())
    db.add(note)
    audit.record("case_note.create", note, changes={"case_id": {"new": case.id}})
    return note


def attach_document(actor: User, case_id: int, *, kind: str, filename: str, content: bytes,
                    content_type: str, issued_by_hospital_id: int | None = None) -> CaseDocument:
    """Attach a signed form or certificate; type and size are checked on the bytes."""
    case = get_case(actor, case_id, EDIT)
    errors = {}
    if kind not in {k.value for k in DocumentKind}:
        errors["kind"] = _l("choose one of the options offered")
    if not content:
        errors["file"] = _l("the file is empty")
    elif len(content) > MAX_DOCUMENT_BYTES:
        errors["file"] = _l("the file may be at most %(n)d MB",
                            n=MAX_DOCUMENT_BYTES // (1024 * 1024))
    elif not content.startswith(DOCUMENT_SIGNATURES.get(content_type, b"\0no match")):
        errors["file"] = _l("must be a PDF, PNG or JPEG file (checked on its content)")
    if issued_by_hospital_id is not None:
        hospital = db.get(Organisation, issued_by_hospital_id)
        if hospital is None or hospital.kind != OrgKind.HOSPITAL:
            errors["issued_by_hospital_id"] = _l("must be a hospital")
    if errors:
        raise InvalidInput(errors)
    document = CaseDocument(case_id=case.id, kind=DocumentKind(kind),
                            filename=(filename or "document")[:200], content=content,
                            content_type=content_type, size=len(content),
                            sha256=hashlib.sha256(content).hexdigest(),
                            issued_by_hospital_id=issued_by_hospital_id, uploaded_by_id=actor.id)
    db.add(document)
    audit.record("case_document.attach", document, changes={
        "case_id": {"new": case.id}, "kind": {"new": kind}, "sha256": {"new": document.sha256}})
    return document


def record_follow_up(actor: User, case_id: int, *, kind: str, outcome: str,
                     occurred_at: datetime) -> FollowUpContact:
    """A follow-up contact meets the due follow-up and schedules the next one."""
    case = get_case(actor, case_id, EDIT)
    errors = {}
    if kind not in {k.value for k in FollowUpKind}:
        errors["kind"] = _l("choose one of the options offered")
    if not (outcome or "").strip():
        errors["outcome"] = _l("say what came of the contact")
    if occurred_at > utcnow():
        errors["occurred_at"] = _l("cannot be in the future")
    if errors:
        raise InvalidInput(errors)
    contact = FollowUpContact(case_id=case.id, kind=FollowUpKind(kind), outcome=outcome.strip(),
                              occurred_at=occurred_at, recorded_by_id=actor.id)
    db.add(contact)
    db.flush()
    deadlines.settle(case, "outpatient_follow_up")  # after a discharge, whatever the state
    if case.state == "follow_up":  # weekly for the first month, then monthly
        deadlines.settle(case, *deadlines.FOLLOW_UP_KINDS)
        done = db.scalar(select(func.count(FollowUpContact.id))
                         .where(FollowUpContact.case_id == case.id))
        rules = policy()
        interval = timedelta(days=7 if done <= rules.weekly_follow_ups
                             else rules.monthly_follow_up_days)
        deadlines.schedule(case, "follow_up", due_at=occurred_at + interval)
    audit.record("follow_up_contact.create", contact, changes={"case_id": {"new": case.id},
                                                               "kind": {"new": kind}})
    return contact


def record_guardian_attempt(actor: User, case_id: int, *, reached: bool, note: str = "",
                            guardian_id: int | None = None) -> GuardianContactAttempt:
    case = get_case(actor, case_id, EDIT)
    if guardian_id is not None:
        guardian = db.get(Guardian, guardian_id)
        if guardian is None or guardian.student_id != case.student_id:
            raise InvalidInput({"guardian_id": _l("must be a guardian of this case's student")})
    attempt = GuardianContactAttempt(case_id=case.id, guardian_id=guardian_id, reached=reached,
                                     note=note or "", attempted_at=utcnow(),
                                     recorded_by_id=actor.id)
    db.add(attempt)
    if reached:
        deadlines.settle(case, "guardian_reached")
    audit.record("guardian_contact_attempt.create", attempt,
                 changes={"case_id": {"new": case.id}, "reached": {"new": reached}})
    return attempt


def _may_fire(actor: User, case: Case, event: case_workflow.Event) -> bool:
    if actor.role.value not in event.roles:
        return False
    if event.name == "confirm_arrival":  # once, by the liaison of the current referral
        return can(actor, VIEW, case) and workflow.current_referral(case).arrived_at is None
    if event.name == "close" and actor.id in {case.owner_id, *(case.past_owner_ids or [])}:
        return False  # a case is closed by a supervisor who never owned it
    return can(actor, EDIT, case)


def announce(case: Case) -> None:
    """Tell every console that shows this case that it changed (after commit): its page,
    its owner, its team, its centre's supervisors, the hospital it was referred to and
    whoever reported it."""
    payload = {"case_id": case.id, "state": case.state}
    rooms = [case_room(case.id), supervisors_room(case.centre_id)]
    rooms += [user_room(user_id) for user_id in {case.owner_id, case.reported_by_id} - {None}]
    if case.team_id is not None:
        rooms.append(team_room(case.team_id))
    rooms += [hospital_room(hospital_id) for hospital_id in sorted(hospitals_following(case))]
    for room in rooms:
        emit_after_commit("case.updated", payload, room=room)


def my_alerts(actor: User) -> list[Alert]:
    """The alerts waiting for ``actor``, newest first."""
    return list(db.scalars(select(Alert).where(Alert.recipient_id == actor.id,
                                               Alert.acknowledged_at.is_(None))
                           .order_by(Alert.id.desc()).limit(100)))


def acknowledge_alert(actor: User, alert_id: int) -> Alert:
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["alert"],
                          id=alert_id))
    if alert.recipient_id != actor.id:  # others' alerts do not exist for you
        raise Hidden(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["alert"],
                        id=alert_id), object_type="alert", object_id=alert.id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        audit.record("alert.acknowledge", alert, changes=audit.diff(alert))
    return alert


def record_discharge(actor: User, referral_id: int, discharged_at: datetime) -> Referral:
    """The hospital discharged the student: outpatient follow-up is due within 7 days."""
    referral = db.get(Referral, referral_id)
    if referral is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["referral"],
                          id=referral_id))
    if not can(actor, EDIT, referral):
        raise Forbidden(_l("you may not update this referral"), object_type="referral",
                        object_id=referral.id)
    errors = {}
    if referral.case.state in case_workflow.FINAL:
        errors["case"] = _l("the case is closed or withdrawn")
    if referral.arrived_at is None:
        errors["arrived_at"] = _l("confirm the student's arrival first")
    if referral.discharged_at is not None:
        errors["discharged_at"] = _l("the discharge is already recorded")
    if discharged_at > utcnow():
        errors["discharged_at"] = _l("cannot be in the future")
    if errors:
        raise InvalidInput(errors)
    referral.discharged_at = discharged_at
    deadlines.schedule(referral.case, "outpatient_follow_up", after=discharged_at)
    audit.record("referral.discharge", referral, changes=audit.diff(referral))
    return referral


def assign(actor: User, case_id: int, *, owner_id: int | None, version: int) -> Case:
    """A supervisor gives a case to a counselor of its centre (or back to the team)."""
    case = get_case(actor, case_id, EDIT)
    if actor.role != Role.SUPERVISOR:
        raise Forbidden(_l("only supervisors assign cases"))
    if version != case.version:
        raise Conflict(_l("the case has changed since you loaded it; reload it and try again"),
                       current_version=case.version)
    owner = db.get(User, owner_id) if owner_id is not None else None
    if owner_id is not None and (owner is None or not owner.is_active
                                 or owner.role not in (Role.COUNSELOR, Role.SUPERVISOR)
                                 or case.centre_id not in owner.centre_ids):
        raise InvalidInput({"owner_id": _l("must be an active counselor of this case's "
                                             "centre")})
    case.owner_id = owner.id if owner else None
    case.updated_at = utcnow()
    db.add(CaseHistory(case_id=case.id, event="assign", from_state=case.state,
                       to_state=case.state, actor_id=actor.id, data={"owner_id": case.owner_id}))
    audit.record("case.assign", case, changes=audit.diff(case))
    announce(case)
    return case


def notes(actor: User, case_id: int) -> list[CaseNote]:
    case = case_file(actor, case_id, "notes")
    return list(db.scalars(select(CaseNote).where(CaseNote.case_id == case.id)
                           .order_by(CaseNote.id)))


def documents(actor: User, case_id: int) -> list[CaseDocument]:
    case = case_file(actor, case_id, "documents")
    return list(db.scalars(select(CaseDocument).where(CaseDocument.case_id == case.id)
                           .order_by(CaseDocument.id)))


def open_document(actor: User, case_id: int, document_id: int) -> CaseDocument:
    """A document's file, for someone who may see the case; the read is audited."""
    case = case_file(actor, case_id, "document")
    document = db.get(CaseDocument, document_id)
    if document is None:
        raise NotFound(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["document"],
                          id=document_id))
    if document.case_id != case.id:  # another case's: asked for through one they may see
        raise Hidden(_l("%(record)s %(id)s does not exist", record=RECORD_LABELS["document"],
                        id=document_id), object_type="case_document", object_id=document.id)
    audit.record_read(document)
    return document
