"""Pages for counselors, supervisors, hospital liaisons and school reporters. Each list is
narrowed by the access rules' scopes."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select

from casework import alerts, deadlines, people, services, students
from casework.forms import event_data, event_form
from casework.models import (Case, CaseDocument, DocumentKind, FollowUpContact, FollowUpKind,
                             Referral)
from casework.picture import workflow_svg
from casework import workflow
from casework.workflow import HANDLERS
from crisisline.access.rules import EDIT, VIEW, can, visible
from crisisline.access.services import open_record, pending_reviews
from crisisline import audit
from crisisline.audit.services import verify_since_last_check
from crisisline.accounts.models import Organisation, OrgKind, Role, Team
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.errors import Conflict, InvalidInput
from crisisline.i18n import EVENT_LABELS, STATE_LABELS
from crisisline.messages import problem_line
from crisisline.pages import save
from crisisline.validation import local_datetime
from hotline.services import on_duty
from hotline.wallboard import wallboard
from schoolnet import services as school_reports

blueprint = Blueprint("casework", __name__, template_folder="templates")
blueprint.add_app_template_global(alerts.label, "alert_label")
blueprint.add_app_template_global(alerts.about, "alert_about")
blueprint.add_app_template_global(people.user_name, "user_name")
blueprint.add_app_template_global(people.history_details, "history_details")
blueprint.add_app_template_global(students.age, "student_age")


@blueprint.app_template_global("history_step_label")
def history_step_label(event: str) -> str:
    """A history row's step: a workflow event, or the case's opening or assignment."""
    return {"open": _("Case opened"), "assign": _("Case assigned")}.get(event) \
        or str(EVENT_LABELS.get(event, event))


@blueprint.app_template_global("picked_label")
def picked_label(field: str, raw: str) -> str:
    """The name a picker shows for the id a refused form sent back (never a student the
    reader may not pick)."""
    value = _number(raw)
    if value is None:
        return ""
    if field == "hospital_id":
        hospital = db.get(Organisation, value)
        return hospital.name if hospital is not None and hospital.kind == OrgKind.HOSPITAL else ""
    if field == "student_id":
        on_contact = request.endpoint in ("hotline.contact_page", "hotline.escalate")
        contact_id = _number(str(request.view_args.get("record_id"))) if on_contact else None
        student = students.pickable(current_user, value, contact_id)
        return students.label(student) if student is not None else ""
    return people.user_name(value) if field.endswith("_id") else ""


def _latest(model, limit: int = 50):
    return db.scalars(visible(current_user, model)
                      .order_by(model.created_at.desc()).limit(limit)).all()


@blueprint.route("/console/counselor")
@require_role(Role.COUNSELOR)
def counselor_home():
    duty = on_duty(current_user)
    db.commit()
    return render_template("casework/counselor_home.html", cases=_latest(Case),
                           alerts=services.my_alerts(current_user),
                           school_reports=school_reports.open_reports(current_user), **duty)


@blueprint.route("/console/supervisor")
@require_role(Role.SUPERVISOR)
def supervisor_home():
    return render_template("casework/supervisor_home.html", cases=_latest(Case),
                           reviews=pending_reviews(current_user),
                           alerts=services.my_alerts(current_user),
                           school_reports=school_reports.open_reports(current_user),
                           board=wallboard(current_user), chain=verify_since_last_check()[1])


@blueprint.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge_alert(alert_id: int):
    services.acknowledge_alert(current_user, alert_id)
    db.commit()
    flash(_("Alert acknowledged."), "success")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("accounts.home"))


@blueprint.route("/referrals/<int:referral_id>/discharge", methods=["POST"])
@require_role(Role.HOSPITAL_LIAISON)
def discharge(referral_id: int):
    if save(lambda: services.record_discharge(
            current_user, referral_id,
            _local_time(request.form.get("discharged_at", ""), "discharged_at")),
            _l("Saved.")) is None:
        return liaison_home(), 422  # refused: the page again, as typed
    return redirect(url_for("casework.liaison_home"))


@blueprint.route("/portal/hospital")
@require_role(Role.HOSPITAL_LIAISON)
def liaison_home():
    referrals = _latest(Referral)
    if referrals:  # each shows the student who is coming: a list of sensitive records
        audit.record("referral.list", object_type="referral", changes={
            "referral_ids": {"new": [referral.id for referral in referrals]}})
        db.commit()
    return render_template("casework/liaison_home.html", referrals=referrals)


@blueprint.route("/cases/<int:record_id>")
@login_required
def case_page(record_id: int):
    case = open_record(current_user, "case", record_id)
    db.commit()
    return _render_case(case)


@blueprint.route("/cases/<int:record_id>/workflow.svg")
@login_required
def case_picture(record_id: int):
    case = open_record(current_user, "case", record_id, part="workflow")
    db.commit()
    return Response(_picture(case), mimetype="image/svg+xml")


@blueprint.route("/cases", methods=["POST"])
@require_role(Role.COUNSELOR, Role.SUPERVISOR)
def open_case():
    form = request.form
    case = save(lambda: services.open_case(
        current_user, source=form.get("source", ""), risk_level=form.get("risk_level", ""),
        summary=form.get("summary", ""), student_id=_number(form.get("student_id"))),
        _l("The case was opened."))
    if case is None:  # refused: the form again, as typed (it is on the counselor's page)
        return (counselor_home(), 422) if current_user.role == Role.COUNSELOR else \
            redirect(url_for("casework.counselor_home"))
    return redirect(url_for("casework.case_page", record_id=case.id))


@blueprint.route("/cases/<int:record_id>/events/<event>", methods=["POST"])
@login_required
def case_event(record_id: int, event: str):
    data = event_data(event, request.form) if event in HANDLERS else {}
    version = _number(request.form.get("version"))
    return _act(record_id, event, lambda: services.fire_event(
        current_user, record_id, event, data, version))


@blueprint.route("/cases/<int:record_id>/follow-ups", methods=["POST"])
@login_required
def case_follow_up(record_id: int):
    form = request.form
    return _act(record_id, "follow_up", lambda: services.record_follow_up(
        current_user, record_id, kind=form.get("kind", ""), outcome=form.get("outcome", ""),
        occurred_at=_local_time(form.get("occurred_at", ""), "occurred_at")))


@blueprint.route("/cases/<int:record_id>/guardian-attempts", methods=["POST"])
@login_required
def case_guardian_attempt(record_id: int):
    return _act(record_id, "guardian_attempt", lambda: services.record_guardian_attempt(
        current_user, record_id, reached="reached" in request.form,
        note=request.form.get("note", ""), guardian_id=_number(request.form.get("guardian_id"))))


@blueprint.route("/cases/<int:record_id>/assign", methods=["POST"])
@require_role(Role.SUPERVISOR)
def assign_case(record_id: int):
    return _act(record_id, "assign", lambda: services.assign(
        current_user, record_id, owner_id=_number(request.form.get("owner_id")),
        version=_number(request.form.get("version"))))


@blueprint.route("/cases/<int:record_id>/documents", methods=["POST"])
@login_required
def case_document(record_id: int):
    upload = request.files.get("file")
    hospital = request.form.get("issued_by_hospital_id", "")
    return _act(record_id, "document", lambda: services.attach_document(
        current_user, record_id, kind=request.form.get("kind", ""),
        filename=upload.filename if upload else "", content_type=upload.mimetype if upload
        else "", content=upload.read(services.MAX_DOCUMENT_BYTES + 1) if upload else b"",
        issued_by_hospital_id=_number(hospital)))


def _act(record_id: int, action: str, do):
    """Run one change for the case page: commit and return to it, or show what was wrong."""
    try:
        do()
    except (InvalidInput, Conflict) as error:
        db.rollback()
        case = open_record(current_user, "case", record_id)  # the page is read again
        db.commit()
        problems = [problem_line(field, problem) for field, problem in
                    (error.details.get("fields") or {"": error.message}).items()]
        return _render_case(case, errors=problems, failed=action), error.status
    db.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("casework.case_page", record_id=record_id))


def _render_case(case: Case, errors: list[str] | None = None, failed: str | None = None):
    events = services.allowed_events(current_user, case)
    if current_user.role == Role.HOSPITAL_LIAISON:  # the arrival, not the case file
        return render_template("casework/liaison_case.html", case=case, errors=errors or [],
                               referral=workflow.current_referral(case) if case.referrals
                               else None,
                               events={event: event_form(event) for event in events})
    pickers = {
        "plan_owner_id": url_for("students_api.pick_staff", purpose="plan_owner",
                                 case=case.id),
        "escort_id": url_for("students_api.pick_staff", purpose="escort", case=case.id),
        "hospital_id": url_for("students_api.pick_hospitals", case=case.id)}
    may_assign = current_user.role == Role.SUPERVISOR and can(current_user, EDIT, case)
    return render_template(
        "casework/case.html", case=case, picture=Markup(_picture(case)), pickers=pickers,
        team=db.get(Team, case.team_id) if case.team_id else None,
        student=case.student,
        may_read_student=case.student is not None and can(current_user, VIEW, case.student),
        assign_url=url_for("students_api.pick_staff", purpose="assignee", case=case.id)
        if may_assign else None,
        events={event: event_form(event) for event in events}, errors=errors or [],
        failed=failed, deadlines=deadlines.pending(case),
        documents=db.scalars(select(CaseDocument).where(CaseDocument.case_id == case.id)
                             .order_by(CaseDocument.id)).all(),
        follow_ups=db.scalars(select(FollowUpContact).where(FollowUpContact.case_id == case.id)
                              .order_by(FollowUpContact.occurred_at)).all(),
        hospitals=db.scalars(select(Organisation).where(
            Organisation.kind == OrgKind.HOSPITAL).order_by(Organisation.name)).all(),
        document_kinds=[kind.value for kind in DocumentKind],
        follow_up_kinds=[kind.value for kind in FollowUpKind])


def _picture(case: Case) -> str:
    visited = {row.to_state for row in case.history}
    return workflow_svg({state: str(label) for state, label in STATE_LABELS.items()},
                        events={event: str(label) for event, label in EVENT_LABELS.items()},
                        title=_("Workflow"), current=case.state, visited=visited,
                        taken={row.event for row in case.history})


def _number(raw: str | None) -> int | None:
    """A form's whole number, or None: never a 500 for '²' or a 30-digit value."""
    try:
        value = int(raw or "")
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None


def _same_site(target: str | None) -> bool:
    return bool(target) and target.startswith(request.host_url)


def _local_time(raw: str, field: str):
    """A browser's datetime-local value, in the centre's time zone."""
    return local_datetime(raw, field, ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
