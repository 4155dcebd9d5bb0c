"""Weekly class and monthly department reports go up the network, one per unit and period;
a report that does not arrive by its due time and grace alerts the level above, once; the
compliance view shows, period by period, who reported."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from casework.models import Alert
from schoolnet import routine
from schoolnet.models import MissedRoutineReport, RoutineKind, RoutineReport, SchoolReport

WEEKLY = {"kind": "weekly_class", "study": "期中复习，压力偏大", "life": "作息基本正常",
          "relationships": "同学关系融洽", "emotions": "个别同学情绪低落"}
MONTHLY = {**WEEKLY, "kind": "monthly_department"}


def file(api, who: str, report: dict):
    return api(who).post("/api/routine-reports", report)


def count(ctx, model) -> int:
    with ctx() as db:
        return db.scalar(select(func.count()).select_from(model))


def alerted(ctx, kind: str, unit_id: int) -> list[str]:
    with ctx() as db:
        return sorted(alert.recipient.username for alert in db.scalars(
            select(Alert).where(Alert.kind == kind, Alert.unit_id == unit_id)))


def test_the_class_committee_member_files_the_weekly_report_once_a_week(api, network):
    first = file(api, "c1_committee", WEEKLY)
    assert first.status_code == 201
    assert first.json["unit"]["id"] == network.units["C1"] and first.json["kind"] == "weekly_class"
    again = file(api, "c1_committee", WEEKLY)
    assert again.status_code == 409 and again.json["first"]["id"] == first.json["id"]
    # the levels above read it; another class does not
    assert first.json["id"] in [r["id"] for r in api("d_head").get("/api/routine-reports").json]
    assert first.json["id"] in [r["id"] for r in api("centre").get("/api/routine-reports").json]
    assert api("c2_committee").get("/api/routine-reports").json == []


def test_each_area_needs_a_few_words_and_nothing_half_written_is_saved(api, ctx, network):
    refused = file(api, "c1_committee", {**WEEKLY, "emotions": " "})
    assert refused.status_code == 422
    assert refused.json["fields"] == {"emotions": "请简要填写，一切正常也请写明"}
    assert count(ctx, RoutineReport) == 0


def test_only_the_class_committee_member_files_the_weekly_report(api, network):
    for who in ("c1_head", "r_dorm", "d_head", "centre"):
        assert file(api, who, WEEKLY).status_code == 403, who
    assert file(api, "d_head", MONTHLY).status_code == 201
    assert file(api, "c1_committee", MONTHLY).status_code == 403


def test_a_student_to_watch_can_be_reported_at_risk_from_the_weekly_report(api, ctx, network,
                                                                          world):
    report = file(api, "c1_committee", {**WEEKLY, "watch": [
        {"student_id": network.student_c1, "note": "连续几天独自哭泣", "at_risk": True}]})
    assert report.status_code == 201
    [watched] = report.json["watch"]
    with ctx() as db:
        at_risk = db.get(SchoolReport, watched["school_report_id"])
        assert (at_risk.kind.value, at_risk.student_id) == ("at_risk", network.student_c1)
        assert db.scalar(select(Alert.id).where(
            Alert.school_report_id == at_risk.id,
            Alert.recipient_id == world.users["supervisor"].id)) is not None


def test_a_student_of_another_class_is_refused_and_nothing_is_filed(api, ctx, network):
    refused = file(api, "c1_committee", {**WEEKLY, "watch": [
        {"student_id": network.student_c2, "note": "情绪低落", "at_risk": True}]})
    assert refused.status_code == 422 and "watch" in refused.json["fields"]
    assert count(ctx, RoutineReport) == 0
    with ctx() as db:
        assert db.scalar(select(SchoolReport.id).where(
            SchoolReport.student_id == network.student_c2)) is None


def test_a_missing_weekly_report_alerts_the_level_above_once(app, api, ctx, network, world):
    file(api, "c1_committee", WEEKLY)
    with ctx():
        this_week = routine.period_of(RoutineKind.WEEKLY_CLASS,
                                      routine.services.local_today(), world.orgs["S"].id)
        due = this_week.due_at()

    def sweep(when) -> set[tuple[int, object]]:
        with ctx() as db:
            routine.alert_missing_reports(now=when)
            db.commit()
            return set(db.execute(select(MissedRoutineReport.unit_id,
                                         MissedRoutineReport.period_start)))
    assert (network.units["C2"], this_week.start) not in sweep(due - timedelta(minutes=1))
    before = len(alerted(ctx, "missed_weekly_class_report", network.units["C2"]))
    missed = sweep(due + timedelta(minutes=1))
    assert (network.units["C2"], this_week.start) in missed
    assert (network.units["C1"], this_week.start) not in missed  # filed
    assert not any(unit == network.units["C3"] for unit, _ in missed)  # nobody owes it
    assert sweep(due + timedelta(days=2)) == missed  # once
    now_alerted = alerted(ctx, "missed_weekly_class_report", network.units["C2"])
    assert len(now_alerted) - before == 2
    assert set(now_alerted) == {"t_d_counsellor", "t_d_head"}  # the level above


def test_a_missing_monthly_report_alerts_the_psychology_centre(api, ctx, network, world):
    with ctx():
        due = routine.period_of(RoutineKind.MONTHLY_DEPARTMENT,
                                routine.services.local_today(), world.orgs["S"].id).due_at()
    file(api, "d_head", MONTHLY)
    with ctx() as db:
        routine.alert_missing_reports(now=due + timedelta(hours=1))
        db.commit()
    assert alerted(ctx, "missed_monthly_department_report", network.units["E"]) == [
        "t_centre", "t_psych_reporter"]  # the school's two psychology centre teachers
    assert alerted(ctx, "missed_monthly_department_report", network.units["D"]) == []


def test_the_compliance_view_shows_who_reported_to_those_above(api, ctx, network, world):
    file(api, "c1_committee", WEEKLY)
    view = api("centre").get("/api/routine-reports/compliance", kind="weekly_class").json
    now = {row["unit"]["path"]: row["cells"][-1]["status"] for row in view["rows"]}
    assert now == {"心理学院/1班": "on_time", "心理学院/2班": "running", "文学院/3班": "not_owed"}
    assert len(view["periods"]) == 8
    # two weeks ago is past its due time and grace whatever the day today
    before = {row["unit"]["path"]: row["cells"][-3]["status"] for row in view["rows"]}
    assert before["心理学院/2班"] == "missing"
    # a department head sees their own classes; a class, and another centre, see none
    mine = api("d_head").get("/api/routine-reports/compliance").json
    assert [row["unit"]["path"] for row in mine["rows"]] == ["心理学院/1班", "心理学院/2班"]
    assert api("c1_committee").get("/api/routine-reports/compliance").status_code == 403
    school = world.orgs["S"].id
    assert api("supervisor").get("/api/routine-reports/compliance",
                                 school=school).status_code == 200
    assert api("other_supervisor").get("/api/routine-reports/compliance",
                                       school=school).status_code == 403


def test_during_a_key_period_a_class_reports_twice_a_week(api, ctx, network, world):
    from schoolnet.models import KeyPeriod, KeyPeriodKind
    with ctx() as db:
        today = routine.services.local_today()
        monday = today - timedelta(days=today.weekday())
        db.add(KeyPeriod(school_id=world.orgs["S"].id, kind=KeyPeriodKind.EXAMS,
                         name="期末考试前后", starts_on=monday - timedelta(days=7),
                         ends_on=monday + timedelta(days=13)))
        db.commit()
        halves = routine.periods_back(RoutineKind.WEEKLY_CLASS, monday + timedelta(days=6), 2,
                                      world.orgs["S"].id)
    assert [(p.start, p.end) for p in halves] == [
        (monday, monday + timedelta(days=3)), (monday + timedelta(days=4),
                                               monday + timedelta(days=6))]
    filed = file(api, "c1_committee", WEEKLY).json
    assert (filed["period_start"], filed["period_end"]) in [
        (p.start.isoformat(), p.end.isoformat()) for p in halves]
    with ctx():  # another school, without the period, still reports weekly
        assert routine.period_of(RoutineKind.WEEKLY_CLASS, monday,
                                 world.orgs["SB"].id).end == monday + timedelta(days=6)


def test_the_form_files_the_period_before_late_and_the_view_says_so(app, ctx, network, world):
    from tests.conftest import login
    from tests.world import PASSWORD
    browser = app.test_client()
    login(browser, "t_c1_committee", PASSWORD)
    page = browser.get("/school/routine/weekly_class").get_data(as_text=True)
    with ctx():
        before, now = routine.periods_back(RoutineKind.WEEKLY_CLASS,
                                           routine.services.local_today(), 2,
                                           world.orgs["S"].id)
    assert f'value="{before.start}"' in page and f'value="{now.start}"' in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    filed = browser.post("/school/routine/weekly_class", data={
        "csrf_token": token, "period_start": before.start.isoformat(),
        **{area: "正常" for area in routine.AREAS}})
    assert filed.status_code == 302
    with ctx() as db:
        report = db.scalar(select(RoutineReport).where(
            RoutineReport.unit_id == network.units["C1"]))
        assert report.period_start == before.start
    after = browser.get("/school/routine/weekly_class").get_data(as_text=True)
    assert f'value="{before.start}"' not in after  # filed: no longer offered
    tampered = browser.post("/school/routine/weekly_class", data={
        "csrf_token": token, "period_start": "2026-13-40",
        **{area: "正常" for area in routine.AREAS}})
    assert tampered.status_code == 422
    assert "请从提供的选项中选择一项" in tampered.get_data(as_text=True)
