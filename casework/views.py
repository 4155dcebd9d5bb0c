"""Pages for counselors, supervisors, hospital liaisons and school reporters, and the
record-reading API. Each list is narrowed by the access rules' scopes."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_smorest import Blueprint as ApiBlueprint

from casework.models import Case, Referral, SchoolReport, Student
from casework.schemas import CaseOut, ReferralOut, SchoolReportOut, StudentOut
from crisisline.access.rules import visible
from crisisline.access.services import open_record, pending_reviews
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db

blueprint = Blueprint("casework", __name__, template_folder="templates")
api_blueprint = ApiBlueprint("records", __name__, url_prefix="/api",
                             description="Students, cases, referrals and school reports")


def _latest(model, limit: int = 50):
    return db.scalars(visible(current_user, model)
                      .order_by(model.created_at.desc()).limit(limit)).all()


@blueprint.route("/console/counselor")
@require_role(Role.COUNSELOR)
def counselor_home():
    return render_template("casework/counselor_home.html", cases=_latest(Case))


@blueprint.route("/console/supervisor")
@require_role(Role.SUPERVISOR)
def supervisor_home():
    return render_template("casework/supervisor_home.html", cases=_latest(Case),
                           reviews=pending_reviews(current_user))


@blueprint.route("/portal/hospital")
@require_role(Role.HOSPITAL_LIAISON)
def liaison_home():
    return render_template("casework/liaison_home.html", referrals=_latest(Referral))


@blueprint.route("/school")
@require_role(Role.REPORTER)
def reporter_home():
    return render_template("casework/reporter_home.html", reports=_latest(SchoolReport))


@blueprint.route("/cases/<int:record_id>")
@login_required
def case_page(record_id: int):
    case = open_record(current_user, "case", record_id)
    db.commit()
    return render_template("record.html", title=_l("Case"), record=CaseOut().dump(case))


def _api_read(path: str, object_type: str, schema):
    @api_blueprint.route(path, endpoint=f"api_{object_type}")
    @api_blueprint.response(200, schema)
    @login_required
    def read(record_id: int):
        record = open_record(current_user, object_type, record_id)
        db.commit()
        return record
    return read


_api_read("/cases/<int:record_id>", "case", CaseOut)
_api_read("/referrals/<int:record_id>", "referral", ReferralOut)
_api_read("/school-reports/<int:record_id>", "school_report", SchoolReportOut)
_api_read("/students/<int:record_id>", "student", StudentOut)
