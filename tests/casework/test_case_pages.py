"""The case pages as a counselor, liaison and reporter use them in the browser."""
from __future__ import annotations

import re

from sqlalchemy import select

from casework.models import Case, CaseHistory
from schoolnet.models import SchoolReport
from tests.conftest import login
from tests.world import PASSWORD


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def open_case_in_browser(client) -> tuple[int, str]:
    console = client.get("/console/counselor").get_data(as_text=True)
    response = client.post("/cases", data={"csrf_token": csrf(console), "source": "parent",
                                           "risk_level": "high", "summary": "家长来电"})
    assert response.status_code == 302
    case_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return case_id, client.get(f"/cases/{case_id}").get_data(as_text=True)


def test_a_counselor_opens_a_case_and_sees_its_picture_and_next_steps(client, world):
    login(client, "t_counselor", PASSWORD)
    case_id, page = open_case_in_browser(client)
    assert "<svg" in page and 'data-state="reported"' in page
    assert "派员到场" in page and "心理疏导" in page  # dispatch, triage_support
    assert "已报告" in page  # the state, in Chinese


def test_a_step_without_its_data_shows_each_missing_field_and_changes_nothing(client, ctx,
                                                                             world):
    login(client, "t_counselor", PASSWORD)
    case_id, page = open_case_in_browser(client)
    response = client.post(f"/cases/{case_id}/events/dispatch", data={
        "csrf_token": csrf(page), "version": "1", "risk_level": "high"})
    assert response.status_code == 422
    assert "到场处置人" in response.get_data(as_text=True)  # the responder is named as missing
    with ctx() as db:
        assert db.get(Case, case_id).state == "reported"


def test_a_step_with_its_data_moves_the_case_and_is_recorded(client, ctx, world):
    login(client, "t_counselor", PASSWORD)
    case_id, page = open_case_in_browser(client)
    response = client.post(f"/cases/{case_id}/events/dispatch", data={
        "csrf_token": csrf(page), "version": "1", "risk_level": "imminent",
        "responder": "值班辅导员", "emergency_services": ["120", "110"]})
    assert response.status_code == 302
    with ctx() as db:
        assert db.get(Case, case_id).state == "on_site"
        row = db.scalars(select(CaseHistory).where(CaseHistory.case_id == case_id,
                                                   CaseHistory.event == "dispatch")).one()
    assert row.data["emergency_services"] == ["120", "110"]


def test_a_stale_form_is_refused_with_nothing_changed(client, ctx, world):
    login(client, "t_counselor", PASSWORD)
    case_id, page = open_case_in_browser(client)
    data = {"csrf_token": csrf(page), "version": "1", "risk_level": "high", "responder": "甲",
            "emergency_services": []}
    assert client.post(f"/cases/{case_id}/events/dispatch", data=data).status_code == 302
    again = client.post(f"/cases/{case_id}/events/dispatch", data=data)  # second tab, old form
    assert again.status_code == 409
    with ctx() as db:
        assert db.scalar(select(CaseHistory.id).where(CaseHistory.case_id == case_id,
                                                      CaseHistory.event == "dispatch")
                         .order_by(CaseHistory.id.desc())) is not None
        assert len(db.get(Case, case_id).history) == 2  # opened, dispatched once


def test_the_liaison_portal_offers_arrival_for_a_case_in_transfer(client, world):
    login(client, "t_liaison", PASSWORD)
    page = client.get("/portal/hospital").get_data(as_text=True)
    transfer_case = world.records["transfer_case"]
    assert f'/cases/{transfer_case.id}"' in page
    case_page = client.get(f"/cases/{transfer_case.id}").get_data(as_text=True)
    assert "确认到院" in case_page


def test_a_reporter_files_a_zero_report_from_the_school_page(client, ctx, world):
    login(client, "t_reporter", PASSWORD)
    page = client.get("/school").get_data(as_text=True)
    assert "学生甲" in page and "学生乙" not in page  # only their own school's students
    response = client.post("/school/reports", data={
        "csrf_token": csrf(page), "student_id": str(world.records["student"].id),
        "kind": "zero"})
    assert response.status_code == 302
    with ctx() as db:
        kinds = db.scalars(select(SchoolReport.kind).where(
            SchoolReport.reported_by_id == world.users["reporter"].id)).all()
    assert "zero" in [kind.value for kind in kinds]
