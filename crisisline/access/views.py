"""Break-the-glass: asking for access with a reason, and the supervisors' review queue."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_smorest import Blueprint as ApiBlueprint

from crisisline.access import services
from crisisline.access.schemas import BreakGlassGrantOut, BreakGlassRequest, ReviewRequest
from crisisline.accounts.forms import ActionForm
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.pages import save

blueprint = Blueprint("access", __name__, url_prefix="/break-glass")
api_blueprint = ApiBlueprint("break_glass", __name__, url_prefix="/api/break-glass",
                             description="Time-boxed, reasoned access beyond one's scope")

RECORD_PAGES = {"case": "casework.case_page", "contact": "hotline.contact_page",
                "school_report": "schoolnet.report_page",
                "student": "students.file_page"}


@api_blueprint.route("", methods=["POST"])
@api_blueprint.arguments(BreakGlassRequest)
@api_blueprint.response(201, BreakGlassGrantOut)
@login_required
def api_break_glass(data):
    """201 with a new grant; 200 with the active one when the caller already holds it."""
    grant, new = services.break_glass(current_user, data["object_type"], data["object_id"],
                                      data["reason"])
    db.commit()
    return grant, 201 if new else 200


@api_blueprint.route("/reviews", methods=["GET"])
@api_blueprint.response(200, BreakGlassGrantOut(many=True))
@require_role(Role.SUPERVISOR)
def api_pending_reviews():
    return services.pending_reviews(current_user)


@api_blueprint.route("/<int:grant_id>/review", methods=["POST"])
@api_blueprint.arguments(ReviewRequest)
@api_blueprint.response(200, BreakGlassGrantOut)
@require_role(Role.SUPERVISOR)
def api_review(data, grant_id: int):
    grant = services.review_break_glass(current_user, grant_id, data["outcome"], data["note"])
    db.commit()
    return grant


@api_blueprint.route("/<int:grant_id>/allow-again", methods=["POST"])
@api_blueprint.response(200, BreakGlassGrantOut)
@require_role(Role.SUPERVISOR)
def api_allow_again(grant_id: int):
    grant = services.allow_again(current_user, grant_id)
    db.commit()
    return grant


@blueprint.route("/<object_type>/<int:object_id>", methods=["GET", "POST"])
@require_role(Role.COUNSELOR, Role.SUPERVISOR)
def break_glass_page(object_type: str, object_id: int):
    form = ActionForm()
    if form.validate_on_submit():
        grant = save(lambda: services.break_glass(current_user, object_type, object_id,
                                                  request.form.get("reason", ""))[0],
                     _l("The record is open to you for %(minutes)d minutes.",
                        minutes=current_app.config["BREAK_GLASS_MINUTES"]))
        if grant is not None:
            page = RECORD_PAGES.get(object_type)
            if page:
                return redirect(url_for(page, record_id=object_id))
            return redirect(url_for("accounts.home"))
    return render_template("access/break_glass.html", form=form, object_type=object_type,
                           object_id=object_id)


@blueprint.route("/reviews", methods=["GET", "POST"])
@require_role(Role.SUPERVISOR)
def reviews_page():
    form = ActionForm()
    if form.validate_on_submit():
        grant_id = request.form.get("grant_id", "")
        if save(lambda: services.review_break_glass(
                current_user, int(grant_id) if grant_id.isascii() and grant_id.isdigit() else 0,
                request.form.get("outcome", ""), request.form.get("note", "")),
                _l("Review saved.")) is not None:
            return redirect(url_for("access.reviews_page"))  # refused: shown again, as typed
    return render_template("access/reviews.html", grants=services.pending_reviews(current_user),
                           shut=services.shut_grants(current_user), form=form)


@blueprint.route("/<int:grant_id>/allow-again", methods=["POST"])
@require_role(Role.SUPERVISOR)
def allow_again_page(grant_id: int):
    form = ActionForm()
    if form.validate_on_submit():
        save(lambda: services.allow_again(current_user, grant_id), _l("Allowed again."))
    return redirect(url_for("access.reviews_page"))
