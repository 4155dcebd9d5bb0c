"""The audit viewer for supervisors, with the chain's status."""
from flask import Blueprint, render_template, request
from flask_login import current_user
from sqlalchemy import select

from crisisline.accounts.models import Membership, Role
from crisisline.accounts.security import require_role
from crisisline.audit.services import recent, verify_since_last_check
from crisisline.database import db

blueprint = Blueprint("audit", __name__, url_prefix="/audit")


@blueprint.route("")
@require_role(Role.SUPERVISOR)
def audit_page():
    """The trail of the supervisor's own centres: what their people did."""
    action = request.args.get("action") or None
    colleagues = select(Membership.user_id).where(
        Membership.organisation_id.in_(current_user.centre_ids))
    entries = recent(limit=200, actions=[action] if action else None,
                     actor_ids=db.scalars(colleagues).all())
    last_check, chain = verify_since_last_check()
    return render_template("audit/index.html", entries=entries, chain=chain,
                           last_check=last_check, action=action)
