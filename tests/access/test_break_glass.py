"""Break-the-glass: reasoned, time-boxed, audited access, reviewed by a supervisor."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crisisline.access.models import BreakGlassGrant
from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow
from tests.conftest import console_connection, login, wait_for
from tests.world import PASSWORD

REASON = "caller gave this student's name during a rescue call"


def audit_entries(ctx, action: str) -> list[AuditEntry]:
    with ctx() as db:
        return db.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def test_out_of_scope_read_is_refused_audited_and_offers_the_glass(api, world, ctx):
    case = world.records["team_case"]  # same centre, neither its owner nor on its team
    response = api("owner_counselor").get(f"/api/cases/{case.id}")
    assert response.status_code == 403
    assert response.json["break_glass_allowed"] is True
    [denied] = audit_entries(ctx, "access.denied")
    assert (denied.actor_name, denied.object_type, denied.object_id, denied.outcome) == \
        ("t_owner_counselor", "case", str(case.id), "denied")
    # another centre's counselor is refused too, and not offered the glass
    assert api("outsider_counselor").get(f"/api/cases/{case.id}").json[
        "break_glass_allowed"] is False


def test_breaking_the_glass_with_a_reason_opens_the_record_and_audits_it(api, world, ctx):
    api, case = api("owner_counselor"), world.records["team_case"]
    response = api.post("/api/break-glass", {"object_type": "case", "object_id": case.id,
                                             "reason": REASON})
    assert response.status_code == 201
    expires = response.json["expires_at"]
    assert api.get(f"/api/cases/{case.id}").status_code == 200
    [opened] = audit_entries(ctx, "break_glass.open")
    assert opened.changes["reason"]["new"] == REASON
    [read] = audit_entries(ctx, "case.read")
    assert read.changes == {"via": "break_glass"}
    with ctx() as db:
        grant = db.scalars(select(BreakGlassGrant)).one()
    assert timedelta(minutes=29) < grant.expires_at - grant.created_at <= timedelta(minutes=30)
    assert expires.startswith(grant.expires_at.isoformat()[:16])


@pytest.mark.parametrize("reason", ["", "   ", "because"])
def test_no_glass_is_broken_without_a_real_reason(api, world, ctx, reason):
    api, case = api("owner_counselor"), world.records["team_case"]
    response = api.post("/api/break-glass", {"object_type": "case", "object_id": case.id,
                                             "reason": reason})
    assert response.status_code == 422 and "reason" in response.json["fields"]
    with ctx() as db:
        assert db.scalars(select(BreakGlassGrant)).all() == []
    assert api.get(f"/api/cases/{case.id}").status_code == 403


def test_unknown_records_and_types_are_clear_errors(api, world):
    api = api("outsider_counselor")
    assert api.post("/api/break-glass", {"object_type": "case", "object_id": 999999,
                                         "reason": REASON}).status_code == 404
    response = api.post("/api/break-glass", {"object_type": "password", "object_id": 1,
                                             "reason": REASON})
    assert response.status_code == 422 and "object_type" in response.json["fields"]


def test_access_ends_when_the_time_box_does(api, world, monkeypatch):
    api, case = api("owner_counselor"), world.records["team_case"]
    api.post("/api/break-glass", {"object_type": "case", "object_id": case.id,
                                  "reason": REASON})
    later = utcnow() + timedelta(minutes=31)
    monkeypatch.setattr("crisisline.access.rules.utcnow", lambda: later)
    assert api.get(f"/api/cases/{case.id}").status_code == 403


@pytest.mark.parametrize("role", ["volunteer", "liaison", "reporter", "admin"])
def test_only_counselors_and_supervisors_may_break_the_glass(api, world, ctx, role):
    response = api(role).post("/api/break-glass", {
        "object_type": "case", "object_id": world.records["team_case"].id, "reason": REASON})
    assert response.status_code == 403
    assert audit_entries(ctx, "access.denied")
    with ctx() as db:
        assert db.scalars(select(BreakGlassGrant)).all() == []


def test_a_grant_waits_for_review_by_a_supervisor_of_the_same_centre(api, world):
    counselor = api("counselor")  # centre A
    counselor.post("/api/break-glass", {"object_type": "case",
                                        "object_id": world.records["owned_case"].id,
                                        "reason": REASON})
    assert [g["user"] for g in api("supervisor").get("/api/break-glass/reviews").json] \
        == ["t_counselor"]
    assert api("other_supervisor").get("/api/break-glass/reviews").json == []


def test_an_unjustified_review_ends_the_access_at_once(api, world, ctx):
    counselor, case = api("counselor"), world.records["owned_case"]
    grant = counselor.post("/api/break-glass", {"object_type": "case", "object_id": case.id,
                                                "reason": REASON}).json
    supervisor = api("supervisor")
    response = supervisor.post(f"/api/break-glass/{grant['id']}/review",
                               {"outcome": "unjustified", "note": "not a rescue"})
    assert response.status_code == 200 and response.json["reviewed_by"] == "t_supervisor"
    assert counselor.get(f"/api/cases/{case.id}").status_code == 403
    assert supervisor.get("/api/break-glass/reviews").json == []
    assert audit_entries(ctx, "break_glass.review")


def test_a_supervisor_cannot_review_their_own_grant(api, world, ctx):
    # a supervisor's whole centre is in their scope: their grant is made here directly
    with ctx() as db:
        grant = BreakGlassGrant(user_id=world.users["supervisor"].id, object_type="case",
                                object_id=world.records["owned_case"].id, reason=REASON,
                                expires_at=utcnow() + timedelta(minutes=30))
        db.add(grant)
        db.commit()
        grant = {"id": grant.id}
    supervisor = api("supervisor")
    assert supervisor.get("/api/break-glass/reviews").json == []
    response = supervisor.post(f"/api/break-glass/{grant['id']}/review",
                               {"outcome": "justified", "note": "fine"})
    assert response.status_code == 403


def test_a_record_already_in_scope_needs_no_glass(api, world):
    response = api("counselor").post("/api/break-glass", {
        "object_type": "case", "object_id": world.records["team_case"].id, "reason": REASON})
    assert response.status_code == 422


def test_in_the_browser_a_refused_case_offers_the_glass_and_then_opens(client, world):
    case = world.records["team_case"]
    login(client, "t_owner_counselor", PASSWORD)
    refused = client.get(f"/cases/{case.id}")
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "紧急调阅" in page
    form = client.get(f"/break-glass/case/{case.id}").get_data(as_text=True)
    token = form.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(f"/break-glass/case/{case.id}",
                           data={"csrf_token": token, "reason": REASON})
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).status_code == 200


def test_supervisors_are_told_live_after_the_grant_is_committed(live_server, client, api,
                                                               world):
    login(client, "t_supervisor", PASSWORD)
    with console_connection(live_server, client) as console:
        assert console.connected
        api("counselor").post("/api/break-glass", {
            "object_type": "case", "object_id": world.records["owned_case"].id, "reason": REASON})
        alerts = wait_for(console, "alert.raised")
    assert alerts and alerts[0]["kind"] == "break_glass"


def test_a_refused_break_glass_sends_no_alert(live_server, client, api, world):
    login(client, "t_supervisor", PASSWORD)
    with console_connection(live_server, client) as console:
        api("counselor").post("/api/break-glass", {
            "object_type": "case", "object_id": world.records["owned_case"].id, "reason": "short"})
        assert wait_for(console, "alert.raised", seconds=1.0) == []


def test_a_console_without_a_session_is_refused(live_server, client):
    with console_connection(live_server, client) as console:
        assert not console.connected
