"""The volunteer's pages and the contact records API."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_smorest import Blueprint as ApiBlueprint

from crisisline.access.rules import visible
from crisisline.access.services import open_record
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from hotline.models import Contact
from hotline.schemas import ContactOut

blueprint = Blueprint("hotline", __name__, template_folder="templates")
api_blueprint = ApiBlueprint("contacts", __name__, url_prefix="/api/contacts",
                             description="Hotline contacts")


@blueprint.route("/console/volunteer")
@require_role(Role.VOLUNTEER)
def volunteer_home():
    contacts = db.scalars(visible(current_user, Contact)
                          .order_by(Contact.created_at.desc()).limit(50)).all()
    return render_template("hotline/volunteer_home.html", contacts=contacts)


@blueprint.route("/contacts/<int:record_id>")
@login_required
def contact_page(record_id: int):
    contact = open_record(current_user, "contact", record_id)
    db.commit()
    return render_template("record.html", title=_l("Contact"), record=ContactOut().dump(contact))


@api_blueprint.route("/<int:contact_id>")
@api_blueprint.response(200, ContactOut)
@login_required
def api_contact(contact_id: int):
    contact = open_record(current_user, "contact", contact_id)
    db.commit()
    return contact
