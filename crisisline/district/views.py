"""The administrator's district pages (/admin/district...) and JSON API (/api/district...).

Thin: each view calls one service and commits once; a refused form shows its page again,
as typed, answered 422.
"""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint as ApiBlueprint

from crisisline.accounts.models import Organisation, OrgKind, Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.district import services
from crisisline.district.schemas import (CentreChange, CentreIn, HospitalChange, HospitalIn,
                                         MemberIn, OrganisationOut, SchoolChange, SchoolIn,
                                         TeamIn, TeamOut, UnitChange, UnitIn, UnitOut)
from crisisline.i18n import HOSPITAL_KIND_LABELS, SCHOOL_KIND_LABELS, UNIT_KIND_LABELS
from crisisline.pages import save

blueprint = Blueprint("district", __name__, url_prefix="/admin/district",
                      template_folder="templates")
api_blueprint = ApiBlueprint("district_api", __name__, url_prefix="/api/district",
                             description="The district: hotline centres, schools and their "
                                         "units, hospitals, teams (administrators only)")

KINDS = {"centres": OrgKind.HOTLINE_CENTRE, "schools": OrgKind.SCHOOL,
         "hospitals": OrgKind.HOSPITAL}
PLURAL = {kind: plural for plural, kind in KINDS.items()}
KIND_RULE = "<any(centres, schools, hospitals):kinds>"


# -- pages ------------------------------------------------------------------------------------

@blueprint.route("")
@require_role(Role.ADMIN)
def index():
    return render_template("district/index.html", **{
        plural: services.organisations(kind) for plural, kind in KINDS.items()})


def _form_values(kind: OrgKind) -> dict:
    """The organisation's fields as the form posted them."""
    form = request.form
    values = {"name": form.get("name", "")}
    for field in services.KIND_FIELDS[kind]:
        values[field] = form.getlist(field) if field == "designated_hospitals" \
            else form.get(field, "")
    return values


def _organisation_page(kind: OrgKind, org: Organisation | None, status: int = 200):
    """The form for a new organisation of ``kind``, or ``org``'s page (with its teams or
    units)."""
    extra = {}
    if org is not None and kind == OrgKind.HOTLINE_CENTRE:
        extra["teams"] = services.teams_of(org.id)
    if org is not None and kind == OrgKind.SCHOOL:
        extra["units"] = services.unit_tree(org.id)
    return render_template(
        "district/organisation.html", kind=kind.value, plural=PLURAL[kind], org=org,
        values=services.current_values(org) if org else {},
        centres=services.organisations(OrgKind.HOTLINE_CENTRE),
        hospitals=services.organisations(OrgKind.HOSPITAL),
        school_kinds=SCHOOL_KIND_LABELS, hospital_kinds=HOSPITAL_KIND_LABELS,
        unit_kinds=UNIT_KIND_LABELS, **extra), status


@blueprint.route(f"/{KIND_RULE}/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def new_organisation(kinds: str):
    kind = KINDS[kinds]
    if request.method == "POST":
        org = save(lambda: services.create_organisation(
            kind, code=request.form.get("code", ""), **_form_values(kind)), _l("Saved."))
        if org is not None:
            return redirect(url_for("district.organisation", kinds=kinds, code=org.code))
        return _organisation_page(kind, None, 422)
    return _organisation_page(kind, None)


def _organisation(kinds: str, code: str) -> Organisation:
    org = Organisation.by_code(code)
    if org is None or org.kind != KINDS[kinds]:
        abort(404)
    return org


@blueprint.route(f"/{KIND_RULE}/<code>", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def organisation(kinds: str, code: str):
    org = _organisation(kinds, code)
    if request.method == "POST":
        if save(lambda: services.update_organisation(KINDS[kinds], code,
                                                     **_form_values(org.kind)),
                _l("Saved.")) is not None:
            return redirect(url_for("district.organisation", kinds=kinds, code=code))
        return _organisation_page(KINDS[kinds], _organisation(kinds, code), 422)
    return _organisation_page(org.kind, org)


def _school_page(code: str, status: int = 422):
    return _organisation_page(OrgKind.SCHOOL, _organisation("schools", code), status)


@blueprint.route("/schools/<code>/units", methods=["POST"])
@require_role(Role.ADMIN)
def add_unit(code: str):
    school = _organisation("schools", code)
    form = request.form
    parent = form.get("parent", "")
    if save(lambda: services.add_unit(
            school.id, form.get("kind", ""), form.get("name", ""),
            int(parent) if parent.isascii() and parent.isdigit() else None),
            _l("Saved.")) is None:
        return _school_page(code)
    return redirect(url_for("district.organisation", kinds="schools", code=code) + "#units")


def _unit_school(unit_id: int) -> str:
    unit = services.get_unit(unit_id)
    return unit.school.code


@blueprint.route("/units/<int:unit_id>/rename", methods=["POST"])
@require_role(Role.ADMIN)
def rename_unit(unit_id: int):
    code = _unit_school(unit_id)
    if save(lambda: services.rename_unit(unit_id, request.form.get("name", "")),
            _l("Saved.")) is None:
        return _school_page(code)
    return redirect(url_for("district.organisation", kinds="schools", code=code) + "#units")


@blueprint.route("/units/<int:unit_id>/remove", methods=["POST"])
@require_role(Role.ADMIN)
def remove_unit(unit_id: int):
    code = _unit_school(unit_id)
    if save(lambda: services.remove_unit(unit_id) or True, _l("Removed.")) is None:
        return _school_page(code, 409)
    return redirect(url_for("district.organisation", kinds="schools", code=code) + "#units")


@blueprint.route("/centres/<code>/teams", methods=["POST"])
@require_role(Role.ADMIN)
def add_team(code: str):
    centre = _organisation("centres", code)
    team = save(lambda: services.create_team(centre.id, request.form.get("name", "")),
                _l("Saved."))
    if team is None:
        return _organisation_page(OrgKind.HOTLINE_CENTRE, _organisation("centres", code), 422)
    return redirect(url_for("district.team", team_id=team.id))


def _team_page(team_id: int, status: int = 200):
    team = services.get_team(team_id)
    centre = db.get(Organisation, team.centre_id)
    return render_template("district/team.html", team=team, centre=centre,
                           staff=services.centre_staff(centre.id)), status


@blueprint.route("/teams/<int:team_id>", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def team(team_id: int):
    if request.method == "POST":
        if save(lambda: services.rename_team(team_id, request.form.get("name", "")),
                _l("Saved.")) is None:
            return _team_page(team_id, 422)
        return redirect(url_for("district.team", team_id=team_id))
    return _team_page(team_id)


@blueprint.route("/teams/<int:team_id>/members", methods=["POST"])
@require_role(Role.ADMIN)
def add_member(team_id: int):
    if save(lambda: services.add_team_member(team_id, request.form.get("member", "")),
            _l("Saved.")) is None:
        return _team_page(team_id, 422)
    return redirect(url_for("district.team", team_id=team_id))


@blueprint.route("/teams/<int:team_id>/members/<username>/remove", methods=["POST"])
@require_role(Role.ADMIN)
def remove_member(team_id: int, username: str):
    services.remove_team_member(team_id, username)
    db.commit()
    return redirect(url_for("district.team", team_id=team_id))


@blueprint.route("/teams/<int:team_id>/remove", methods=["POST"])
@require_role(Role.ADMIN)
def remove_team(team_id: int):
    centre = db.get(Organisation, services.get_team(team_id).centre_id)
    if save(lambda: services.remove_team(team_id) or True, _l("Removed.")) is None:
        return _team_page(team_id, 409)
    return redirect(url_for("district.organisation", kinds="centres", code=centre.code)
                    + "#teams")


# -- the JSON API -----------------------------------------------------------------------------

def _api_organisations(plural: str, kind: OrgKind, new_schema, change_schema):
    """GET/POST /api/district/<plural>, GET/PATCH /api/district/<plural>/<code>."""

    @api_blueprint.route(f"/{plural}", methods=["GET"], endpoint=f"list_{plural}")
    @api_blueprint.response(200, OrganisationOut(many=True))
    @require_role(Role.ADMIN)
    def listed():
        return services.organisations(kind)

    @api_blueprint.route(f"/{plural}", methods=["POST"], endpoint=f"create_{plural}")
    @api_blueprint.arguments(new_schema)
    @api_blueprint.response(201, OrganisationOut)
    @require_role(Role.ADMIN)
    def created(data):
        org = services.create_organisation(kind, **data)
        db.commit()
        return org

    @api_blueprint.route(f"/{plural}/<code>", methods=["GET"], endpoint=f"get_{plural}")
    @api_blueprint.response(200, OrganisationOut)
    @require_role(Role.ADMIN)
    def shown(code: str):
        return services.get_organisation(kind, code)

    @api_blueprint.route(f"/{plural}/<code>", methods=["PATCH"], endpoint=f"change_{plural}")
    @api_blueprint.arguments(change_schema)
    @api_blueprint.response(200, OrganisationOut)
    @require_role(Role.ADMIN)
    def changed(data, code: str):
        org = services.update_organisation(kind, code, **data)
        db.commit()
        return org


_api_organisations("centres", OrgKind.HOTLINE_CENTRE, CentreIn, CentreChange)
_api_organisations("schools", OrgKind.SCHOOL, SchoolIn, SchoolChange)
_api_organisations("hospitals", OrgKind.HOSPITAL, HospitalIn, HospitalChange)


@api_blueprint.route("/schools/<code>/units", methods=["GET"])
@api_blueprint.response(200, UnitOut(many=True))
@require_role(Role.ADMIN)
def api_units(code: str):
    school = services.get_organisation(OrgKind.SCHOOL, code)
    return [unit for unit, _depth in services.unit_tree(school.id)]


@api_blueprint.route("/schools/<code>/units", methods=["POST"])
@api_blueprint.arguments(UnitIn)
@api_blueprint.response(201, UnitOut)
@require_role(Role.ADMIN)
def api_add_unit(data, code: str):
    school = services.get_organisation(OrgKind.SCHOOL, code)
    if "path" in data:
        unit = services.ensure_unit(school, data["path"], kind=data["kind"])
    else:
        unit = services.add_unit(school, data["kind"], data.get("name", ""),
                                 data.get("parent_id"))
    db.commit()
    return unit


@api_blueprint.route("/units/<int:unit_id>", methods=["PATCH"])
@api_blueprint.arguments(UnitChange)
@api_blueprint.response(200, UnitOut)
@require_role(Role.ADMIN)
def api_rename_unit(data, unit_id: int):
    unit = services.rename_unit(unit_id, data["name"])
    db.commit()
    return unit


@api_blueprint.route("/units/<int:unit_id>", methods=["DELETE"])
@api_blueprint.response(204)
@require_role(Role.ADMIN)
def api_remove_unit(unit_id: int):
    services.remove_unit(unit_id)
    db.commit()


@api_blueprint.route("/centres/<code>/teams", methods=["GET"])
@api_blueprint.response(200, TeamOut(many=True))
@require_role(Role.ADMIN)
def api_teams(code: str):
    return services.teams_of(services.get_organisation(OrgKind.HOTLINE_CENTRE, code).id)


@api_blueprint.route("/centres/<code>/teams", methods=["POST"])
@api_blueprint.arguments(TeamIn)
@api_blueprint.response(201, TeamOut)
@require_role(Role.ADMIN)
def api_add_team(data, code: str):
    team = services.create_team(code, data["name"])
    db.commit()
    return team


@api_blueprint.route("/teams/<int:team_id>", methods=["GET"])
@api_blueprint.response(200, TeamOut)
@require_role(Role.ADMIN)
def api_team(team_id: int):
    return services.get_team(team_id)


@api_blueprint.route("/teams/<int:team_id>", methods=["PATCH"])
@api_blueprint.arguments(TeamIn)
@api_blueprint.response(200, TeamOut)
@require_role(Role.ADMIN)
def api_rename_team(data, team_id: int):
    team = services.rename_team(team_id, data["name"])
    db.commit()
    return team


@api_blueprint.route("/teams/<int:team_id>", methods=["DELETE"])
@api_blueprint.response(204)
@require_role(Role.ADMIN)
def api_remove_team(team_id: int):
    services.remove_team(team_id)
    db.commit()


@api_blueprint.route("/teams/<int:team_id>/members", methods=["POST"])
@api_blueprint.arguments(MemberIn)
@api_blueprint.response(200, TeamOut)
@require_role(Role.ADMIN)
def api_add_member(data, team_id: int):
    services.add_team_member(team_id, data["member"])
    db.commit()
    return services.get_team(team_id)


@api_blueprint.route("/teams/<int:team_id>/members/<username>", methods=["DELETE"])
@api_blueprint.response(200, TeamOut)
@require_role(Role.ADMIN)
def api_remove_member(team_id: int, username: str):
    services.remove_team_member(team_id, username)
    db.commit()
    return services.get_team(team_id)
