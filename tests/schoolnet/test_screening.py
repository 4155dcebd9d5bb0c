"""A screening campaign (心理普测) from the results file to the warnings, the interview, the
assessment, and a case or the watch list; through the API, as the school and the centre
use it."""
from __future__ import annotations

import io
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from casework.models import Alert, Case, Student
from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow
from schoolnet import screening
from schoolnet.models import ScreeningWarning, WatchListEntry
from schoolnet.services import local_today as _local_today

TODAY = None


@pytest.fixture(autouse=True)
def _school_today(app):
    global TODAY
    with app.app_context():
        TODAY = _local_today()


def local_today():
    """Today where the schools are."""
    return TODAY


def upload(api, name: str, campaign_id: int, content: bytes, filename: str = "results.csv",
           dry_run: bool = False):
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart
    caller = api(name)
    form = {"file": FileStorage(io.BytesIO(content), filename=filename),
            "dry_run": "true" if dry_run else "false"}
    boundary, body = encode_multipart(form)
    return caller.client.post(f"/api/screening-campaigns/{campaign_id}/results", data=body,
                              headers=caller.headers,
                              content_type=f"multipart/form-data; boundary={boundary}")


def campaign(api, world, instrument: str = "PHQ-9", **extra) -> int:
    answer = api("centre").post("/api/screening-campaigns", {
        "school_id": world.orgs["S"].id, "name": "2026级新生心理普测",
        "instrument": instrument, "started_on": local_today().isoformat(), **extra})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def csv(*rows: str, header: str = "学号,总分,第9题", encoding: str = "utf-8") -> bytes:
    return "\n".join((header, *rows)).encode(encoding)


@pytest.fixture
def roster(ctx, world, network) -> list[str]:
    """1,000 more students of school S (numbers S0000…S0999), in class C1."""
    with ctx() as db:
        db.add_all(Student(school_id=world.orgs["S"].id, student_number=f"S{n:04d}",
                           name=f"学生{n}", class_unit_id=network.units["C1"])
                   for n in range(1000))
        db.commit()
    return [f"S{n:04d}" for n in range(1000)]


def number_of(ctx, student_id: int) -> str:
    with ctx() as db:
        return db.get(Student, student_id).student_number


def test_a_thousand_results_from_a_gbk_file_give_the_warnings_the_thresholds_predict(
        api, world, roster, ctx):
    rng = random.Random(14)
    rows, expected = [], {}
    for number in roster:
        self_harm = rng.choice((0, 0, 0, 1, 2, 3))
        total = rng.randint(self_harm, 27)  # the total counts item 9 too
        rows.append(f"{number},{total},{self_harm}")
        if total >= 10 or self_harm >= 1:
            expected[number] = self_harm >= 1
    campaign_id = campaign(api, world)
    answer = upload(api, "centre", campaign_id, csv(*rows, header="学号,总分,第9题",
                                                    encoding="gbk"))
    assert answer.status_code == 201, answer.json
    assert answer.json["created"] == 1000
    assert answer.json["warnings"] == len(expected)
    assert answer.json["urgent"] == sum(expected.values())
    listed = api("centre").get(f"/api/screening-campaigns/{campaign_id}/warnings").json
    assert {w["student"]["student_number"]: w["urgent"] for w in listed} == expected
    urgent = [w["urgent"] for w in listed]
    assert urgent == sorted(urgent, reverse=True)  # urgent first
    first = listed[0]
    due = screening.datetime.fromisoformat(first["due_at"])
    assert due - utcnow() <= timedelta(hours=24)
    assert listed[-1]["urgent"] is False
    assert screening.datetime.fromisoformat(listed[-1]["due_at"]) - utcnow() > timedelta(days=6)


def test_items_replace_the_total_and_a_bad_row_imports_nothing(api, world, network, ctx):
    campaign_id = campaign(api, world)
    c1, c2 = number_of(ctx, network.student_c1), number_of(ctx, network.student_c2)
    header = "学号," + ",".join(f"第{n}题" for n in range(1, 10))
    bad = upload(api, "centre", campaign_id, csv(
        f"{c1},1,1,1,1,1,1,1,1,0", f"{c2},1,1,1,1,4,1,1,1,0", "NOBODY,0,0,0,0,0,0,0,0,0",
        f"{c1},0,0,0,0,0,0,0,0,0", header=header))
    assert bad.status_code == 422
    problems = {(p["row"], p["column"]) for p in bad.json["problems"]}
    assert problems == {(3, "第5题"), (4, "学号"), (5, None)}
    assert "学号" in bad.json["problems"][1]["column"] and "第5题" in str(bad.json)
    with ctx() as db:
        assert db.scalar(select(func.count()).select_from(ScreeningWarning)) == 0
    good = upload(api, "centre", campaign_id, csv(
        f"{c1},1,1,1,1,1,1,1,1,0", f"{c2},2,2,2,2,2,0,0,0,0", header=header))
    assert good.json == {"rows": 2, "created": 2, "warnings": 1, "urgent": 0,
                         "dry_run": False}
    again = upload(api, "centre", campaign_id, csv(f"{c1},3,0"))
    assert again.status_code == 422
    assert "已有" in again.json["problems"][0]["problem"]


def test_a_score_out_of_range_or_a_missing_self_harm_item_is_named_by_row(
        api, world, network, ctx):
    campaign_id = campaign(api, world)
    c1, c2 = number_of(ctx, network.student_c1), number_of(ctx, network.student_c2)
    answer = upload(api, "centre", campaign_id, csv(f"{c1},28,0", f"{c2},5,"))
    assert answer.status_code == 422
    assert [(p["row"], p["column"]) for p in answer.json["problems"]] == [
        (2, "总分"), (3, "第9题")]
    gad = campaign(api, world, "GAD-7")
    assert upload(api, "centre", gad, csv(f"{c1},22,", header="学号,总分,第8题")
                  ).status_code == 422


def test_an_urgent_warning_alerts_the_head_teacher_the_counselor_teacher_and_the_centre(
        api, world, network, ctx):
    campaign_id = campaign(api, world)
    c1, c2 = number_of(ctx, network.student_c1), number_of(ctx, network.student_c2)
    assert upload(api, "centre", campaign_id, csv(f"{c1},4,1", f"{c2},12,0")
                  ).status_code == 201
    with ctx() as db:
        told = {(alert.kind, alert.recipient.username) for alert in db.scalars(select(Alert))}
    assert told == {("urgent_screening_warning", name)
                    for name in ("t_c1_head", "t_d_counsellor", "t_centre", "t_psych_reporter")}
    assert not told & {("urgent_screening_warning", "t_c1_committee")}


def test_only_the_schools_psychology_centre_starts_a_campaign_or_imports_results(
        api, world, network, ctx):
    refused = api("c1_head").post("/api/screening-campaigns", {
        "school_id": world.orgs["S"].id, "name": "普测", "instrument": "PHQ-9",
        "started_on": local_today().isoformat()})
    assert refused.status_code == 403
    campaign_id = campaign(api, world)
    c1 = number_of(ctx, network.student_c1)
    assert upload(api, "c1_head", campaign_id, csv(f"{c1},4,1")).status_code == 403
    assert upload(api, "volunteer", campaign_id, csv(f"{c1},4,1")).status_code == 404
    custom = api("centre").post("/api/screening-campaigns", {
        "school_id": world.orgs["S"].id, "name": "自编量表", "instrument": "custom",
        "started_on": local_today().isoformat(), "scale_name": "SCL-90", "cut_off": 500,
        "max_score": 450})
    assert custom.status_code == 422 and set(custom.json["fields"]) == {"cut_off"}


def warned(api, world, network, ctx, row: str | None = None) -> int:
    """A PHQ-9 campaign in which 学生甲 (class C1) was warned; the warning's id."""
    campaign_id = campaign(api, world)
    c1 = number_of(ctx, network.student_c1)
    assert upload(api, "centre", campaign_id, csv(row or f"{c1},15,0")).status_code == 201
    return api("centre").get(f"/api/screening-campaigns/{campaign_id}/warnings").json[0]["id"]


def test_an_assessment_before_the_interview_is_refused(api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    early = api("centre").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": "moderate", "plan": "每周谈心", "review_on": local_today().isoformat()})
    assert early.status_code == 409
    assert "约谈" in early.json["error"] or "访谈" in early.json["error"]
    with ctx() as db:
        assert db.get(ScreeningWarning, warning).state == "awaiting_interview"


def test_the_class_committee_and_the_dormitory_officer_never_see_scores(
        api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    for name in ("c1_committee", "r_dorm", "d_head", "volunteer"):
        assert api(name).get(f"/api/screening-warnings/{warning}").status_code == 404, name
        assert api(name).post(f"/api/screening-warnings/{warning}/interview", {
            "outcome": "cleared", "note": "x"}).status_code in (403, 404), name
    assert api("c1_head").get(f"/api/screening-warnings/{warning}").json["score"] == 15
    assert api("c2_committee").get("/api/screening-campaigns").json == []


def interview(api, warning: int, outcome: str = "second_warning", name: str = "c1_head"):
    answer = api(name).post(f"/api/screening-warnings/{warning}/interview", {
        "outcome": outcome, "note": "情绪低落两周，睡眠差"})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_a_high_grade_opens_a_case_at_the_centre_linked_to_the_warning(
        api, world, network, ctx):
    close_open_cases(ctx, world)
    warning = warned(api, world, network, ctx)
    interview(api, warning)
    graded = api("centre").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": "high", "plan": "告知家长，转介医院"})
    assert graded.status_code == 200, graded.json
    assert graded.json["status"] == "graded" and graded.json["case_id"]
    with ctx() as db:
        case = db.get(Case, graded.json["case_id"])
        assert (case.source.value, case.student_id, case.state, case.centre_id) == (
            "screening", network.student_c1, "reported", world.orgs["A"].id)
        told = {alert.recipient.username for alert in db.scalars(
            select(Alert).where(Alert.case_id == case.id, Alert.kind == "screening_case"))}
    assert "t_supervisor" in told
    again = api("centre").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": "high", "plan": "x"})
    assert again.status_code == 409


def close_open_cases(ctx, world) -> None:
    """学生甲's case in the world is closed: a screening may open a new one."""
    from tests.world import close_open_case
    with ctx() as db:
        close_open_case(world)
        db.commit()


def test_a_moderate_grade_puts_the_student_on_the_watch_list_with_an_owner_and_a_date(
        api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    interview(api, warning)
    review_on = local_today() + timedelta(days=14)
    graded = api("centre").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": "moderate", "plan": "班主任每周谈心一次",
        "review_on": review_on.isoformat()})
    assert graded.status_code == 200, graded.json
    listed = api("centre").get("/api/watch-list", school_id=world.orgs["S"].id).json
    assert [(e["student"]["id"], e["risk_level"], e["owner"]["name"], e["next_review_on"],
             e["overdue"], e["plan"]) for e in listed] == [
        (network.student_c1, "moderate", "c1_head", review_on.isoformat(), False,
         "班主任每周谈心一次")]
    assert api("c1_committee").get("/api/watch-list").json == []


def test_a_cleared_interview_ends_the_warning_and_the_funnel_adds_up(
        api, world, network, ctx):
    close_open_cases(ctx, world)
    campaign_id = campaign(api, world)
    c1, c2 = number_of(ctx, network.student_c1), number_of(ctx, network.student_c2)
    assert upload(api, "centre", campaign_id, csv(f"{c1},15,0", f"{c2},11,0", "t_C2x,1,0")
                  ).status_code == 422  # an unknown student
    assert upload(api, "centre", campaign_id, csv(f"{c1},15,0", f"{c2},11,0")
                  ).status_code == 201
    first, second = (w["id"] for w in api("centre").get(
        f"/api/screening-campaigns/{campaign_id}/warnings").json)
    interview(api, first, "cleared")
    interview(api, second, "second_warning", name="centre")
    api("centre").post(f"/api/screening-warnings/{second}/assessment", {
        "risk_level": "low", "plan": "心理中心随访", "review_on": local_today().isoformat(),
        "owner_id": world.users["psych_reporter"].id})
    funnel = api("supervisor").get(f"/api/screening-campaigns/{campaign_id}/funnel").json
    assert funnel == {"screened": 2, "warned": 2, "urgent": 0, "interviewed": 2,
                      "cleared": 1, "second_warnings": 1,
                      "graded": {"low": 1, "moderate": 0, "high": 0, "imminent": 0},
                      "cases": 0}
    with ctx() as db:
        entry = db.scalar(select(WatchListEntry))
        assert entry.owner.username == "t_psych_reporter" and entry.risk_level.value == "low"


def test_the_command_line_imports_a_campaigns_results_all_or_nothing(
        crisisline, cli_database_url, tmp_path):
    from sqlalchemy import insert

    from crisisline.accounts.models import Organisation, User
    from schoolnet.models import ScreeningCampaign, ScreeningResult
    from tests.conftest import cli_connection
    root = __import__("pathlib").Path(__file__).parents[2] / "examples/district"
    crisisline("init")
    crisisline("import", "organisations", str(root / "organisations.csv"))
    crisisline("import", "students", str(root / "students-SCH-NO1.csv"))
    crisisline("users", "create", "psy.teacher", "--role", "reporter", "--org", "SCH-NO1",
               "--identity", "psychology_centre", "--link")
    with cli_connection(cli_database_url) as connection:
        school = connection.execute(select(Organisation.id).where(
            Organisation.code == "SCH-NO1")).scalar_one()
        numbers = connection.execute(select(Student.student_number).where(
            Student.school_id == school).order_by(Student.student_number).limit(3)).scalars()
        numbers = list(numbers)
        teacher = connection.execute(select(User.id).where(
            User.username == "psy.teacher")).scalar_one()
        campaign_id = connection.execute(insert(ScreeningCampaign.__table__).values(
            school_id=school, name="2026级普测", instrument="PHQ-9",
            started_on=utcnow().date(), created_by_id=teacher, created_at=utcnow())
        ).inserted_primary_key[0]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv(f"{numbers[0]},12,0", "9999999999,3,0", encoding="gbk"))
    refused = crisisline("import", "screening", str(bad), "--campaign", str(campaign_id),
                         check=False)
    assert refused.returncode == 1 and "Row 3" in refused.stderr
    good = tmp_path / "results.csv"
    good.write_bytes(csv(f"{numbers[0]},12,0", f"{numbers[1]},3,2", f"{numbers[2]},3,0",
                         encoding="gbk"))
    done = crisisline("import", "screening", str(good), "--campaign", str(campaign_id))
    assert "3 created" in done.stdout and "2 warnings (1 urgent" in done.stdout
    with cli_connection(cli_database_url) as connection:
        assert connection.execute(select(func.count()).select_from(
            ScreeningResult.__table__)).scalar_one() == 3
    missing = crisisline("import", "screening", str(good), check=False)
    assert missing.returncode != 0 and "--campaign" in missing.stderr


def test_the_student_file_shows_screenings_to_those_who_may_see_them(
        api, app, world, network, ctx):
    from tests.conftest import login

    def sees(name: str) -> bool | None:
        client = app.test_client()
        login(client, name)
        page = client.get(f"/students/{network.student_c1}")
        if page.status_code in (403, 404):  # another centre's: the file is not theirs
            return None
        html = page.get_data(as_text=True)
        return "2026级新生心理普测" in html and "总分 15" in html

    warning = warned(api, world, network, ctx)
    # a first warning is the school's to talk through: the centre's counselors see it once
    # it is a second warning for them to assess
    assert [sees(name) for name in ("t_supervisor", "t_counselor", "t_admin",
                                    "t_outsider_counselor")] == [True, False, False, None]
    interview(api, warning)
    assert sees("t_counselor") is True


def test_a_student_on_the_watch_list_graded_high_later_leaves_it_for_the_case(
        api, world, network, ctx):
    close_open_cases(ctx, world)
    first = warned(api, world, network, ctx)
    interview(api, first)
    api("centre").post(f"/api/screening-warnings/{first}/assessment", {
        "risk_level": "moderate", "plan": "每周谈心",
        "review_on": (local_today() + timedelta(days=7)).isoformat()})
    second = warned(api, world, network, ctx)  # the next campaign
    interview(api, second)
    graded = api("centre").post(f"/api/screening-warnings/{second}/assessment", {
        "risk_level": "imminent", "plan": "立即通知家长，送医"}).json
    assert api("centre").get("/api/watch-list").json == []
    with ctx() as db:
        entry = db.scalar(select(WatchListEntry))
        assert (entry.on_list_key, entry.case_id) == (None, graded["case_id"])
        removal = db.scalar(select(AuditEntry).where(
            AuditEntry.action == "watch_list_entry.remove"))
        # why a student left the list is about their health: never written out in the trail
        assert removal.changes["removed_reason"] == {"changed": True}


def test_a_cleared_warning_is_not_assessed_and_a_total_below_item_9_is_refused(
        api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    interview(api, warning, "cleared")
    refused = api("centre").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": "low", "plan": "x", "review_on": local_today().isoformat()})
    assert refused.status_code == 409 and "已解除预警" in refused.json["error"]
    campaign_id = campaign(api, world)
    answer = upload(api, "centre", campaign_id,
                    csv(f"{number_of(ctx, network.student_c2)},0,3"))
    assert answer.status_code == 422
    assert answer.json["problems"][0]["problem"] == "总分小于自伤条目的得分"


def test_a_counselor_sees_second_warnings_only_and_teachers_no_whole_campaign_numbers(
        api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    campaign_id = api("centre").get(f"/api/screening-warnings/{warning}").json["campaign_id"]
    assert api("counselor").get(f"/api/screening-campaigns/{campaign_id}/warnings").json == []
    assert api("counselor").get(f"/api/screening-warnings/{warning}").status_code == 404
    interview(api, warning)
    assert [w["id"] for w in api("counselor").get(
        f"/api/screening-campaigns/{campaign_id}/warnings").json] == [warning]
    assert api("c1_head").get(f"/api/screening-campaigns/{campaign_id}/funnel"
                              ).status_code == 403
    assert api("counselor").get(f"/api/screening-campaigns/{campaign_id}/funnel"
                                ).json["second_warnings"] == 1


def test_a_counselor_grading_high_owns_the_case_at_the_schools_centre(
        api, world, network, ctx):
    close_open_cases(ctx, world)
    warning = warned(api, world, network, ctx)
    interview(api, warning)
    graded = api("counselor").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": "high", "plan": "告知家长，转介"}).json
    with ctx() as db:
        case = db.get(Case, graded["case_id"])
        assert (case.owner_id, case.centre_id) == (world.users["counselor"].id,
                                                   world.orgs["A"].id)


def test_a_results_file_too_large_is_refused_before_it_is_read(api, world, network):
    from schoolnet.views import MAX_UPLOAD_BYTES
    campaign_id = campaign(api, world)
    answer = upload(api, "centre", campaign_id, b"x" * (MAX_UPLOAD_BYTES + 1))
    assert answer.status_code == 413 and "过大" in answer.json["error"]
