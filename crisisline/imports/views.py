"""The admin's import page: upload a file, see what it would do, then import it.

The upload is checked with a dry run (the whole import, rolled back) and kept in the
instance folder under a random name until the admin confirms or a day has passed; the
confirmation imports that same file. New users' sign-in secrets are shown once, on the
answer to the confirmation, and never stored in clear.
"""
from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crisisline.accounts.forms import ActionForm
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.errors import InvalidInput
from crisisline.imports.services import import_file, load_schemas
from crisisline.messages import problem_line, shown

blueprint = Blueprint("imports", __name__, url_prefix="/admin/import")
blueprint.add_app_template_global(shown, "shown")

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # 100,000 rows of students are about 15 MB
KEPT_SECONDS = 24 * 3600
UPLOAD_ID = re.compile(r"[0-9a-f]{32}\.(csv|xlsx)")
PREVIEW_ROWS = 10


def district_schemas() -> dict:
    """The kinds an admin imports from this page: those that need nothing but the file (a
    screening's results are imported on its campaign's page)."""
    return {kind: schema for kind, schema in load_schemas().items() if not schema.needs}


@blueprint.before_request
def _bounded_size():
    request.max_content_length = MAX_UPLOAD_BYTES


@blueprint.route("", methods=["GET"])
@require_role(Role.ADMIN)
def import_page():
    return _upload_page()


def _upload_page(problems=(), status: int = 200):
    return render_template("imports/upload.html", schemas=district_schemas(), form=ActionForm(),
                           problems=problems, kind=request.form.get("kind")), status


@blueprint.route("/preview", methods=["POST"])
@require_role(Role.ADMIN)
def preview():
    """Check the uploaded file as a dry run and show what importing it would do."""
    form = ActionForm()
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    problems = {}
    if not form.validate_on_submit():
        problems[""] = _l("The form has expired; please try again.")
    if kind not in district_schemas():
        problems["kind"] = _l("choose what the file holds")
    if upload is None or not upload.filename:
        problems["file"] = _l("choose a CSV or XLSX file")
    if problems:
        return _refused(problems)
    upload_id = _keep(upload)
    try:
        report = import_file(kind, _uploads() / upload_id, filename=upload.filename,
                             dry_run=True, actor=current_user, preview_rows=PREVIEW_ROWS)
    except InvalidInput as unreadable:
        (_uploads() / upload_id).unlink(missing_ok=True)
        return _refused(unreadable.fields)
    schema = district_schemas()[kind]
    return render_template("imports/preview.html", report=report, schema=schema,
                           upload_id=upload_id, form=ActionForm()), 200 if report.ok else 422


@blueprint.route("/confirm", methods=["POST"])
@require_role(Role.ADMIN)
def confirm():
    """Import the file the admin previewed; show the counts (and new users' secrets, once)."""
    form = ActionForm()
    kind, upload_id = request.form.get("kind", ""), request.form.get("upload", "")
    filename = request.form.get("filename", "")[:200] or upload_id
    path = _uploads() / upload_id if UPLOAD_ID.fullmatch(upload_id) else None
    if not form.validate_on_submit() or kind not in district_schemas() or path is None \
            or not path.exists():
        raise InvalidInput({"file": _l("the uploaded file is gone; upload it again")})
    report = import_file(kind, path, filename=filename, actor=current_user)
    if report.ok:
        db.commit()
        path.unlink(missing_ok=True)
    schema = district_schemas()[kind]
    return render_template("imports/done.html" if report.ok else "imports/preview.html",
                           report=report, schema=schema, upload_id=upload_id,
                           form=ActionForm()), 200 if report.ok else 422


def _refused(problems: dict):
    """The upload form again, 422, each problem named (the chosen kind kept)."""
    return _upload_page([problem_line(field, problem) for field, problem in problems.items()],
                        422)


def _uploads() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _keep(upload) -> str:
    """Store the upload under a random name (forgetting uploads older than a day)."""
    folder = _uploads()
    for old in folder.iterdir():
        if old.stat().st_mtime < time.time() - KEPT_SECONDS:
            old.unlink(missing_ok=True)
    suffix = "xlsx" if upload.filename.lower().endswith((".xlsx", ".xlsm")) else "csv"
    upload_id = f"{secrets.token_hex(16)}.{suffix}"
    upload.save(folder / upload_id)
    return upload_id
