"""The casework JSON API: cases and their workflow, and the records that hang off them."""
from __future__ import annotations

from flask import Response, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from flask_login import current_user, login_required
from flask_smorest import Blueprint

from casework import services
from casework.models import Case, Deadline, DeadlineStatus, Student
from casework.schemas import (AlertOut, AssignIn, CaseDetail, CaseFilters, CaseOut,
                              DischargeIn, DocumentIn, DocumentOut, EventRequest, FollowUpIn,
                              FollowUpOut, GuardianAttemptIn, GuardianAttemptOut, HistoryOut,
                              LiaisonCaseView, NoteIn, NoteOut, OpenCase, ReferralOut)
from crisisline import audit
from crisisline.access.rules import visible
from crisisline.access.services import open_record
from crisisline.accounts.models import Role
from crisisline.database import db, utcnow
from crisisline.errors import InvalidInput
from state_machines import case_workflow

blueprint = Blueprint("casework_api", __name__, url_prefix="/api",
                      description="Crisis cases, their workflow, and the records around them")


def case_detail(case: Case):
    """The case as its caller sees it: with the events they may fire now. A hospital
    liaison gets only what confirming the arrival needs."""
    case.allowed_events = services.allowed_events(current_user, case)
    if current_user.role == Role.HOSPITAL_LIAISON:
        return jsonify(LiaisonCaseView().dump(case))  # a Response passes smorest untouched
    return case


@blueprint.route("/cases", methods=["POST"])
@blueprint.arguments(OpenCase)
@blueprint.response(201, CaseDetail)
@login_required
def open_case(data):
    case = services.open_case(current_user, **data)
    db.commit()
    return case_detail(case)


@blueprint.route("/cases", methods=["GET"])
@blueprint.arguments(CaseFilters, location="query")
@blueprint.response(200, CaseOut(many=True))
@login_required
def list_cases(filters):
    query = visible(current_user, Case).order_by(Case.created_at.desc()).limit(500)
    if "state" in filters:
        query = query.where(Case.state == filters["state"])
    if "risk" in filters:
        query = query.where(Case.risk_level == filters["risk"])
    if "owner" in filters:
        query = query.where(Case.owner_id == filters["owner"])
    if "school" in filters:
        query = query.where(Case.student_id.in_(
            select(Student.id).where(Student.school_id == filters["school"])))
    if filters.get("overdue"):
        query = query.where(Case.id.in_(select(Deadline.case_id).where(
            Deadline.status.in_((DeadlineStatus.PENDING, DeadlineStatus.FIRED)),
            Deadline.due_at <= utcnow())))
    cases = db.scalars(query).all()
    audit.record("case.list", object_type="case", changes={  # a list of sensitive records
        "filters": {"new": {k: str(v) for k, v in filters.items()}},
        "case_ids": {"new": [case.id for case in cases]}})
    db.commit()
    return cases


@blueprint.route("/cases/<int:case_id>")
@blueprint.response(200, CaseDetail)
@login_required
def get_case(case_id: int):
    case = open_record(current_user, "case", case_id)
    db.commit()
    return case_detail(case)


@blueprint.route("/cases/<int:case_id>/events/<event>", methods=["POST"])
@blueprint.arguments(EventRequest)
@blueprint.response(200, CaseDetail)
@login_required
def fire_event(body, case_id: int, event: str):
    case = services.fire_event(current_user, case_id, event, body["data"], body["version"])
    db.commit()
    return case_detail(case)


@blueprint.route("/cases/<int:case_id>/history")
@blueprint.response(200, HistoryOut(many=True))
@login_required
def case_history(case_id: int):
    rows = services.history(current_user, case_id)
    db.commit()
    return rows


@blueprint.route("/cases/<int:case_id>/assign", methods=["POST"])
@blueprint.arguments(AssignIn)
@blueprint.response(200, CaseDetail)
@login_required
def assign(data, case_id: int):
    case = services.assign(current_user, case_id, **data)
    db.commit()
    return case_detail(case)


@blueprint.route("/cases/<int:case_id>/notes", methods=["GET"])
@blueprint.response(200, NoteOut(many=True))
@login_required
def list_notes(case_id: int):
    listed = services.notes(current_user, case_id)
    db.commit()
    return listed


@blueprint.route("/cases/<int:case_id>/documents", methods=["GET"])
@blueprint.response(200, DocumentOut(many=True))
@login_required
def list_documents(case_id: int):
    listed = services.documents(current_user, case_id)
    db.commit()
    return listed


@blueprint.route("/cases/<int:case_id>/documents/<int:document_id>/file")
@login_required
def download_document(case_id: int, document_id: int):
    document = services.open_document(current_user, case_id, document_id)
    db.commit()
    return Response(document.content, mimetype=document.content_type, headers={
        "Content-Disposition": f"attachment; filename=document-{document.id}",
        "Cache-Control": "no-store"})


@blueprint.route("/cases/<int:case_id>/notes", methods=["POST"])
@blueprint.arguments(NoteIn)
@blueprint.response(201, NoteOut)
@login_required
def add_note(data, case_id: int):
    note = services.add_note(current_user, case_id, data["body"])
    db.commit()
    return note


@blueprint.route("/cases/<int:case_id>/documents", methods=["POST"])
@blueprint.arguments(DocumentIn, location="form")
@blueprint.response(201, DocumentOut)
@login_required
def attach_document(data, case_id: int):
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput({"file": _l("attach the file (the multipart form field “file”)")})
    document = services.attach_document(
        current_user, case_id, kind=data["kind"], filename=upload.filename,
        content=upload.read(services.MAX_DOCUMENT_BYTES + 1), content_type=upload.mimetype,
        issued_by_hospital_id=data["issued_by_hospital_id"])
    db.commit()
    return document


@blueprint.route("/cases/<int:case_id>/follow-ups", methods=["POST"])
@blueprint.arguments(FollowUpIn)
@blueprint.response(201, FollowUpOut)
@login_required
def record_follow_up(data, case_id: int):
    contact = services.record_follow_up(current_user, case_id, **data)
    db.commit()
    return contact


@blueprint.route("/cases/<int:case_id>/guardian-attempts", methods=["POST"])
@blueprint.arguments(GuardianAttemptIn)
@blueprint.response(201, GuardianAttemptOut)
@login_required
def record_guardian_attempt(data, case_id: int):
    attempt = services.record_guardian_attempt(current_user, case_id, **data)
    db.commit()
    return attempt


@blueprint.route("/alerts")
@blueprint.response(200, AlertOut(many=True))
@login_required
def my_alerts():
    return services.my_alerts(current_user)


@blueprint.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@blueprint.response(200, AlertOut)
@login_required
def acknowledge_alert(alert_id: int):
    alert = services.acknowledge_alert(current_user, alert_id)
    db.commit()
    return alert


@blueprint.route("/referrals/<int:referral_id>/discharge", methods=["POST"])
@blueprint.arguments(DischargeIn)
@blueprint.response(200, ReferralOut)
@login_required
def record_discharge(data, referral_id: int):
    referral = services.record_discharge(current_user, referral_id, data["discharged_at"])
    db.commit()
    return referral


@blueprint.route("/workflow")
@login_required
def workflow():
    """The states and events, as data."""
    return {"states": list(case_workflow.STATES), "initial": case_workflow.INITIAL,
            "events": [{"name": e.name, "from": e.source, "to": e.target,
                        "roles": sorted(e.roles)} for e in case_workflow.EVENTS]}


def _read(path: str, object_type: str, schema):
    @blueprint.route(path, endpoint=f"read_{object_type}")
    @blueprint.response(200, schema)
    @login_required
    def read(record_id: int):
        record = open_record(current_user, object_type, record_id)
        db.commit()
        return record
    return read


_read("/referrals/<int:record_id>", "referral", ReferralOut)
