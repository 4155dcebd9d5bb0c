"""Assignment, notes and documents of a case, through the API."""
from __future__ import annotations

from sqlalchemy import select

from crisisline.audit.models import AuditEntry
from tests.conftest import PDF


def test_a_supervisor_assigns_a_case_and_the_new_owner_sees_it(api, world):
    case = world.records["team_case"]
    owner = world.users["owner_counselor"]
    assert api("owner_counselor").get(f"/api/cases/{case.id}").status_code == 403
    response = api("supervisor").post(f"/api/cases/{case.id}/assign",
                                      {"owner_id": owner.id, "version": case.version})
    assert response.status_code == 200 and response.json["owner_id"] == owner.id
    assert api("owner_counselor").get(f"/api/cases/{case.id}").status_code == 200
    history = api("supervisor").get(f"/api/cases/{case.id}/history").json
    assert history[-1]["event"] == "assign"


def test_only_supervisors_assign_and_only_to_their_centres_counselors(api, world):
    case = world.records["team_case"]
    assert api("counselor").post(f"/api/cases/{case.id}/assign", {
        "owner_id": world.users["counselor"].id, "version": case.version}).status_code == 403
    response = api("supervisor").post(f"/api/cases/{case.id}/assign", {
        "owner_id": world.users["outsider_counselor"].id, "version": case.version})
    assert response.status_code == 422 and "owner_id" in response.json["fields"]


def test_notes_are_listed_for_those_who_may_see_the_case(api, world):
    case = world.records["team_case"]
    assert api("counselor").post(f"/api/cases/{case.id}/notes",
                                 {"body": "家长已到校"}).status_code == 201
    assert [n["body"] for n in api("supervisor").get(f"/api/cases/{case.id}/notes").json] \
        == ["家长已到校"]
    assert api("volunteer").get(f"/api/cases/{case.id}/notes").status_code == 403


def test_a_document_is_downloaded_only_by_those_who_may_see_it_and_audited(api, ctx, world):
    case = world.records["team_case"]
    uploaded = api("counselor").upload(case.id, "parent_notice").json
    listed = api("supervisor").get(f"/api/cases/{case.id}/documents").json
    assert [d["id"] for d in listed] == [uploaded["id"]]
    path = f"/api/cases/{case.id}/documents/{uploaded['id']}/file"
    response = api("supervisor").get(path)
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Cache-Control"] == "no-store"
    assert api("liaison").get(path).status_code == 403
    with ctx() as db:
        reads = db.scalars(select(AuditEntry).where(
            AuditEntry.action == "case_document.read")).all()
    assert [entry.actor_name for entry in reads] == ["t_supervisor"]
