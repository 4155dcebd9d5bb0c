"""The audit viewer for supervisors: filters, pages, the CSV export, and the chain's status."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crisisline import audit
from crisisline.access.rules import visible
from crisisline.accounts.models import Role, User
from crisisline.accounts.security import require_role
from crisisline.audit.labels import ACTION_LABELS, OBJECT_LABELS, action_label, change_lines, \
    object_label
from crisisline.audit.models import AuditEntry
from crisisline.audit.services import (OUTCOMES, TrailFilter, trail_all, trail_page,
                                       verify_since_last_check)
from crisisline.database import db
from crisisline.errors import InvalidInput
from crisisline.i18n import OUTCOME_LABELS, ROLE_LABELS

blueprint = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 50
FILTER_FIELDS = ("from", "to", "person", "action", "record_type", "record_id", "outcome")


@blueprint.route("")
@require_role(Role.SUPERVISOR)
def audit_page():
    """The trail of the supervisor's centres: who did what to which record, when, from
    where, with what outcome; filtered, a page at a time (newest first)."""
    last_check, chain = verify_since_last_check()
    shown = {name: request.args.get(name, "") for name in FILTER_FIELDS}
    entries, older, errors = [], None, {}
    try:
        trail, before = _filter_from(request.args), _before(request.args)
    except InvalidInput as error:
        errors = error.fields
    else:
        entries, older = trail_page(visible(current_user, AuditEntry), trail, before=before,
                                    limit=PAGE_SIZE)
    query = {name: value for name, value in shown.items() if value}
    return render_template(
        "audit/index.html", entries=entries, chain=chain, last_check=last_check,
        shown=shown, errors=errors, action_label=action_label, object_label=object_label,
        change_lines=change_lines, actions=_action_choices(), record_types=_type_choices(),
        outcomes=[(value, OUTCOME_LABELS[value]) for value in OUTCOMES],
        newest_url=url_for("audit.audit_page", **query) if request.args.get("before") else None,
        older_url=url_for("audit.audit_page", **query, before=older) if older else None,
        export_url=url_for("audit.export_csv", **query),
    ), 422 if errors else 200


@blueprint.route("/export.csv")
@require_role(Role.SUPERVISOR)
def export_csv():
    """The filtered entries as CSV (UTF-8 with a byte order mark, so Excel on Chinese
    Windows reads it); the export is itself audited."""
    trail = _filter_from(request.args)
    entries = trail_all(visible(current_user, AuditEntry), trail)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([str(_l("No.")), str(_l("Time")), str(_l("Actor")), str(_l("Role")),
                     str(_l("Action")), str(_l("Record type")), str(_l("Record number")),
                     str(_l("Outcome")), str(_l("Source address")), str(_l("Request id")),
                     str(_l("Changes"))])
    for entry in entries:
        writer.writerow([
            entry.seq, format_datetime(entry.occurred_at, "yyyy-MM-dd HH:mm:ss"),
            entry.actor_name, str(ROLE_LABELS.get(entry.actor_role, entry.actor_role or "")),
            action_label(entry.action), object_label(entry.object_type),
            entry.object_id or "", str(OUTCOME_LABELS.get(entry.outcome, entry.outcome)),
            entry.source_address or "", entry.request_id or "",
            "; ".join(f"{field}: {text}" for field, text in change_lines(entry.changes))])
    audit.record("audit.export", changes={"filters": {"new": trail.as_dict()},
                                          "rows": {"new": len(entries)}})
    db.commit()
    stamp = datetime.now(_zone()).strftime("%Y%m%d-%H%M")
    return Response(out.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="audit-{stamp}.csv"'})


def _filter_from(args) -> TrailFilter:
    """The filter from the query string; every bad field named at once (422)."""
    errors: dict[str, object] = {}
    since = _day(args, "from", errors)
    until = _day(args, "to", errors)
    if since and until and since > until:
        errors["to"] = _l("the end date must not be before the start date")
    person_name = (args.get("person") or "").strip() or None
    person = None
    if person_name is not None:
        person = User.by_username(person_name) if len(person_name) <= 80 else None
        if person is None:
            errors["person"] = _l("no user has this username")
    action = (args.get("action") or "").strip() or None
    if action is not None and (len(action) > 80 or not action.isprintable()):
        errors["action"] = _l("not an action the trail records")
    record_type = args.get("record_type") or None
    if record_type is not None and record_type not in OBJECT_LABELS:
        errors["record_type"] = _l("choose a record type from the list")
    record_id = (args.get("record_id") or "").strip() or None
    if record_id is not None and not (record_id.isascii() and record_id.isdigit()
                                      and len(record_id) <= 18):
        errors["record_id"] = _l("a record number is digits only")
    outcome = args.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        errors["outcome"] = _l("choose an outcome from the list")
    if errors:
        raise InvalidInput(errors)
    zone = _zone()
    return TrailFilter(
        since=datetime.combine(since, time(), zone) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), zone) if until else None,
        person_id=person.id if person else None, person_name=person_name, action=action,
        record_type=record_type, record_id=str(int(record_id)) if record_id else None,
        outcome=outcome)


def _day(args, name: str, errors: dict) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = _l("a date such as 2026-12-01")
        return None
    if not 1900 <= day.year <= 2100:
        errors[name] = _l("a date between 1900 and 2100")
        return None
    return day


def _before(args) -> int | None:
    raw = args.get("before") or ""
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidInput({"before": _l("not a page of this trail")})
    return int(raw)


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _action_choices() -> list[tuple[str, str]]:
    return sorted(((name, str(label)) for name, label in ACTION_LABELS.items()),
                  key=lambda choice: choice[1])


def _type_choices() -> list[tuple[str, str]]:
    return sorted(((name, str(label)) for name, label in OBJECT_LABELS.items()),
                  key=lambda choice: choice[1])
