"""Pages for counselors, supervisors, hospital liaisons and school reporters. Each list is
narrowed by the access rules' scopes."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from casework.models import Case, Referral, SchoolReport
from casework.schemas import CaseOut
from crisisline.access.rules import visible
from crisisline.access.services import open_record, pending_reviews
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db

blueprint = Blueprint("casework", __name__, template_folder="templates")


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
