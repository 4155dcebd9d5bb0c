"""The audit viewer for supervisors, with the chain's status."""
from flask import Blueprint, render_template, request

from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.audit.services import recent, verify_chain

blueprint = Blueprint("audit", __name__, url_prefix="/audit")


@blueprint.route("")
@require_role(Role.SUPERVISOR)
def audit_page():
    action = request.args.get("action") or None
    entries = recent(limit=200, actions=[action] if action else None)
    return render_template("audit/index.html", entries=entries, chain=verify_chain(),
                           action=action)
