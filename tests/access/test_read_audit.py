"""Every read of a case, contact or student leaves an audit entry, and every refusal a
denied one, whichever page, API or answer it goes through."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from casework.models import Alert
from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.world import PASSWORD

REASON = "caller gave this student's name during a rescue call"


def entries(ctx, action: str, actor: str | None = None) -> list[AuditEntry]:
    with ctx() as db:
        query = select(AuditEntry).where(AuditEntry.action == action)
        if actor:
            query = query.where(AuditEntry.actor_name == actor)
        return db.scalars(query.order_by(AuditEntry.seq)).all()


def count(ctx, action: str) -> int:
    with ctx() as db:
        return db.scalar(select(func.count(AuditEntry.seq)).where(AuditEntry.action == action))


def test_listing_a_cases_documents_is_an_audited_read(api, ctx, world):
    case = world.records["team_case"]
    api("counselor").upload(case.id, "parent_notice")
    assert api("supervisor").get(f"/api/cases/{case.id}/documents").status_code == 200
    [read] = entries(ctx, "case.read", "t_supervisor")
    assert read.object_id == str(case.id) and read.changes == {"part": "documents"}


def test_the_workflow_picture_is_an_audited_read(client, ctx, world):
    case = world.records["team_case"]
    login(client, "t_counselor", PASSWORD)
    response = client.get(f"/cases/{case.id}/workflow.svg")
    assert response.status_code == 200 and b"<svg" in response.data
    [read] = entries(ctx, "case.read", "t_counselor")
    assert read.object_id == str(case.id)


def test_the_case_page_shown_again_after_a_refused_form_is_an_audited_read(client, ctx,
                                                                          world):
    case = world.records["team_case"]
    login(client, "t_counselor", PASSWORD)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    before = count(ctx, "case.read")
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    response = client.post(f"/cases/{case.id}/events/dispatch",
                           data={"csrf_token": token, "version": str(case.version)})
    assert response.status_code == 422
    assert count(ctx, "case.read") == before + 1


def test_reads_under_break_the_glass_are_marked_as_such_in_every_part(api, ctx, world):
    counselor, case = api("counselor"), world.records["owned_case"]
    assert counselor.post("/api/break-glass", {"object_type": "case", "object_id": case.id,
                                               "reason": REASON}).status_code == 201
    for part in ("", "/history", "/notes", "/documents"):
        assert counselor.get(f"/api/cases/{case.id}{part}").status_code == 200, part
    reads = entries(ctx, "case.read", "t_counselor")
    assert [read.changes.get("via") for read in reads] == ["break_glass"] * 4
    assert [read.changes.get("part") for read in reads] == [None, "history", "notes",
                                                             "documents"]


def test_reads_in_ones_own_scope_are_not_marked_as_break_the_glass(api, ctx, world):
    case = world.records["team_case"]
    api("counselor").get(f"/api/cases/{case.id}/history")
    [read] = entries(ctx, "case.read", "t_counselor")
    assert read.changes == {"part": "history"}


def test_a_document_of_another_case_answered_404_is_audited_as_a_refusal(api, ctx, world):
    theirs = api("outsider_counselor").upload(world.records["case_b"].id, "other").json
    mine = world.records["team_case"]
    response = api("counselor").get(f"/api/cases/{mine.id}/documents/{theirs['id']}/file")
    assert response.status_code == 404
    assert "case_document" not in response.get_data(as_text=True)  # nothing disclosed
    [denied] = entries(ctx, "access.denied", "t_counselor")
    assert (denied.object_type, denied.object_id, denied.outcome) == \
        ("case_document", str(theirs["id"]), "denied")


def test_acknowledging_someone_elses_alert_answered_404_is_audited_as_a_refusal(api, ctx,
                                                                              world):
    with ctx() as db:
        alert = Alert(recipient_id=world.users["supervisor"].id,
                      case_id=world.records["team_case"].id, kind="missed_guardian_reached")
        db.add(alert)
        db.commit()
        alert_id = alert.id
    response = api("counselor").post(f"/api/alerts/{alert_id}/acknowledge")
    assert response.status_code == 404
    [denied] = entries(ctx, "access.denied", "t_counselor")
    assert (denied.object_type, denied.object_id) == ("alert", str(alert_id))


def test_a_record_that_does_not_exist_is_no_refusal(api, ctx, world):
    assert api("counselor").get("/api/cases/999999").status_code == 404
    assert entries(ctx, "access.denied") == []
