"""A school's key periods (重要时段): its psychology centre teacher keeps the calendar (the
defaults of a school year come by themselves), its other reporters and the centre's
supervisors read it; when a period starts, each case of the school's students in follow-up
is due a review, which a follow-up meets and whose miss alerts the owner and supervisors.
Through the pages, the API and the command line, as the school and the centre use them."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from casework import deadlines
from casework.models import Alert, Case, CaseSource, Deadline, DeadlineStatus, RiskLevel, Student
from crisisline.accounts.models import ReporterIdentity, SchoolUnit, UnitKind, User
from crisisline.database import utcnow
from schoolnet import services
from schoolnet.models import KeyPeriod
from tests.casework.test_case_pages import csrf
from tests.conftest import ROOT, cli_connection, login
from tests.world import PASSWORD

PAGE = "/school/key-periods"


@pytest.fixture
def today(app) -> date:
    with app.app_context():
        return services.local_today()


@pytest.fixture
def this_year(today) -> int:
    return services.school_year_of(today)


@pytest.fixture
def head_teacher(ctx, world) -> str:
    """t_reporter is a head teacher (班主任) of a class of school S."""
    with ctx() as db:
        klass = SchoolUnit(school_id=world.orgs["S"].id, kind=UnitKind.CLASS, name="1班")
        db.add(klass)
        db.flush()
        reporter = db.get(User, world.users["reporter"].id)
        reporter.reporter_identity = ReporterIdentity.HEAD_TEACHER
        reporter.memberships[0].unit_id = klass.id
        db.commit()
    return "reporter"


def periods_of(ctx, school_id: int) -> list[tuple[str, str, date, date]]:
    with ctx() as db:
        return [(p.kind.value, p.name, p.starts_on, p.ends_on) for p in db.scalars(
            select(KeyPeriod).where(KeyPeriod.school_id == school_id)
            .order_by(KeyPeriod.starts_on, KeyPeriod.id))]


def new_period(api, starts_on: date, ends_on: date, name: str = "校运动会前后",
               kind: str = "major_event"):
    return api("psych_reporter").post("/api/key-periods", {
        "kind": kind, "name": name, "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat()})


# -- the calendar ---------------------------------------------------------------------------

def test_the_teacher_who_first_opens_the_calendar_finds_the_defaults_once(
        client, ctx, world, this_year):
    school = world.orgs["S"].id
    before = periods_of(ctx, school)  # the world's period of a past school year
    login(client, "t_psych_reporter", PASSWORD)
    page = client.get(PAGE)
    assert page.status_code == 200
    defaults = services.default_periods(this_year)
    added = [period for period in periods_of(ctx, school) if period not in before]
    assert sorted(added) == sorted((kind.value, name, first, last)
                                   for kind, name, first, last in defaults)
    assert {kind for kind, *_ in added} == {"holidays", "exams", "term_start", "freshmen",
                                            "season_change", "graduation"}  # no major event
    text = page.get_data(as_text=True)
    assert f"{this_year}年秋季开学前后" in text and "开学前后" in text
    # opened again, or its defaults asked for again: nothing new
    assert client.get(PAGE).status_code == 200
    with ctx() as db:
        assert services.default_calendar(school, this_year) == []
        db.commit()
    assert len(periods_of(ctx, school)) == len(before) + len(defaults)


def test_a_default_the_teacher_moved_or_renamed_is_not_added_again(api, ctx, client, world,
                                                                  this_year):
    login(client, "t_psych_reporter", PASSWORD)
    client.get(PAGE)
    listed = api("psych_reporter").get("/api/key-periods").json
    autumn = next(p for p in listed if p["name"] == f"{this_year}年秋季开学前后")
    moved = api("psych_reporter").patch(f"/api/key-periods/{autumn['id']}", {
        "name": "秋季开学", "starts_on": f"{this_year}-08-28", "ends_on": f"{this_year}-09-20"})
    assert moved.status_code == 200, moved.json
    with ctx() as db:
        assert services.default_calendar(world.orgs["S"].id, this_year) == []
        db.commit()
    names = [p["name"] for p in api("psych_reporter").get("/api/key-periods").json]
    assert "秋季开学" in names and f"{this_year}年秋季开学前后" not in names


def test_another_reporter_opening_the_calendar_adds_nothing(client, ctx, world, head_teacher):
    before = periods_of(ctx, world.orgs["S"].id)
    login(client, "t_reporter", PASSWORD)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "本日程由学校心理中心教师维护" in page.get_data(as_text=True)
    assert periods_of(ctx, world.orgs["S"].id) == before


def test_the_command_line_adds_a_schools_defaults_once(crisisline, cli_database_url,
                                                       this_year):
    crisisline("init")
    crisisline("import", "organisations", str(ROOT / "examples/district/organisations.csv"))
    first = crisisline("--lang", "zh", "key-periods", "defaults", "--school", "SCH-NO1",
                       "--year", str(this_year))
    count = len(services.default_periods(this_year))
    assert f"新增重要时段 {count} 个，共 {count} 个" in first.stdout
    second = crisisline("--lang", "zh", "key-periods", "defaults", "--school", "SCH-NO1",
                        "--year", str(this_year))
    assert f"新增重要时段 0 个，共 {count} 个" in second.stdout
    with cli_connection(cli_database_url) as connection:
        assert connection.execute(select(func.count()).select_from(
            KeyPeriod.__table__)).scalar_one() == count
    unknown = crisisline("--lang", "zh", "key-periods", "defaults", "--school", "NO-SUCH",
                         "--year", str(this_year), check=False)
    assert unknown.returncode != 0 and "NO-SUCH" in unknown.stderr and "学校" in unknown.stderr
    far = crisisline("--lang", "zh", "key-periods", "defaults", "--school", "SCH-NO1",
                     "--year", str(this_year + 5), check=False)
    assert far.returncode != 0 and "只能是本学年" in far.stderr


# -- who keeps it, who reads it -------------------------------------------------------------

def test_the_psychology_centre_teacher_adds_changes_and_removes_a_period(api, ctx, world,
                                                                        today):
    teacher = api("psych_reporter")
    added = new_period(api, today + timedelta(days=30), today + timedelta(days=32))
    assert added.status_code == 201, added.json
    period = added.json
    assert (period["kind"], period["name"], period["reviews_created_at"]) == (
        "major_event", "校运动会前后", None)
    changed = teacher.patch(f"/api/key-periods/{period['id']}", {
        "ends_on": (today + timedelta(days=35)).isoformat()})
    assert changed.status_code == 200
    assert changed.json["ends_on"] == (today + timedelta(days=35)).isoformat()
    assert changed.json["name"] == "校运动会前后"  # what was not given stays
    assert teacher.delete(f"/api/key-periods/{period['id']}").status_code == 204
    with ctx() as db:
        assert db.get(KeyPeriod, period["id"]) is None


def test_a_head_teacher_reads_the_calendar_but_cannot_change_it(api, client, ctx, world,
                                                                 today, head_teacher):
    period = new_period(api, today + timedelta(days=30), today + timedelta(days=32)).json
    head = api(head_teacher)
    assert period["id"] in [p["id"] for p in head.get("/api/key-periods").json]
    refused = head.post("/api/key-periods", {
        "kind": "exams", "name": "期中考试前后", "starts_on": today.isoformat(),
        "ends_on": today.isoformat()})
    assert refused.status_code == 403
    assert refused.json["error"] == "只有本校心理中心教师可以维护重要时段"
    assert head.patch(f"/api/key-periods/{period['id']}", {"name": "改名"}).status_code == 403
    assert head.delete(f"/api/key-periods/{period['id']}").status_code == 403
    with ctx() as db:
        assert db.get(KeyPeriod, period["id"]).name == "校运动会前后"

    login(client, "t_reporter", PASSWORD)
    page = client.get(PAGE).get_data(as_text=True)
    assert "校运动会前后" in page and f'action="{PAGE}"' not in page
    assert client.post(f"{PAGE}/{period['id']}/remove",
                       data={"csrf_token": csrf(page)}).status_code == 403
    with ctx() as db:
        assert db.get(KeyPeriod, period["id"]) is not None
    home = client.get("/school").get_data(as_text=True)
    assert f'href="{PAGE}"' in home


def test_the_centres_supervisors_read_the_calendar_and_no_other_centre(api, world, today):
    period = new_period(api, today + timedelta(days=30), today + timedelta(days=32)).json
    assert period["id"] in [p["id"] for p in api("supervisor").get("/api/key-periods").json]
    assert period["id"] not in [p["id"] for p in
                                api("other_supervisor").get("/api/key-periods").json]
    assert api("supervisor").patch(f"/api/key-periods/{period['id']}",
                                   {"name": "改名"}).status_code == 403
    assert api("other_supervisor").patch(f"/api/key-periods/{period['id']}",
                                         {"name": "改名"}).status_code == 404


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, problem", [
    ({"ends_on": -1}, "ends_on", "不能早于开始日期"),
    ({"name": "   "}, "name", "请填写时段名称"),
    ({"kind": "sports_day"}, "kind", "请从提供的选项中选择一项"),
    ({"starts_on": 800, "ends_on": 801}, "starts_on", "必须在距今两年以内"),
    ({"starts_on": -800}, "starts_on", "必须在距今两年以内"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_is_saved(api, ctx, world, today, change,
                                                             field, problem):
    before = periods_of(ctx, world.orgs["S"].id)
    body = {"kind": "exams", "name": "期中考试前后", "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=3)).isoformat()}
    body.update({key: (today + timedelta(days=value)).isoformat() if key.endswith("_on")
                 else value for key, value in change.items()})
    refused = api("psych_reporter").post("/api/key-periods", body)
    assert refused.status_code == 422
    assert refused.json["fields"][field] == problem
    assert periods_of(ctx, world.orgs["S"].id) == before


def test_a_refused_form_says_why_in_chinese_and_keeps_what_was_typed(client, ctx, world,
                                                                    today):
    login(client, "t_psych_reporter", PASSWORD)
    page = client.get(PAGE).get_data(as_text=True)
    before = periods_of(ctx, world.orgs["S"].id)
    starts, ends = today + timedelta(days=10), today + timedelta(days=5)
    refused = client.post(PAGE, data={
        "csrf_token": csrf(page), "kind": "major_event", "name": "校庆前后",
        "starts_on": starts.isoformat(), "ends_on": ends.isoformat()})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "结束日期：不能早于开始日期" in text
    assert 'value="校庆前后"' in text and f'value="{ends.isoformat()}"' in text
    assert re.search(r'<option value="major_event" selected>', text)
    no_name = client.post(PAGE, data={
        "csrf_token": csrf(page), "kind": "major_event", "name": "",
        "starts_on": "", "ends_on": ends.isoformat()})
    assert no_name.status_code == 422
    assert "请填写时段名称" in no_name.get_data(as_text=True)
    assert "开始日期：请选择开始日期" in no_name.get_data(as_text=True)
    assert periods_of(ctx, world.orgs["S"].id) == before


def test_a_refused_change_keeps_the_period_as_it_was(client, api, ctx, world, today):
    period = new_period(api, today + timedelta(days=30), today + timedelta(days=32)).json
    login(client, "t_psych_reporter", PASSWORD)
    page = client.get(PAGE).get_data(as_text=True)
    refused = client.post(f"{PAGE}/{period['id']}", data={
        "csrf_token": csrf(page), "kind": "major_event", "name": "校运动会",
        "starts_on": (today + timedelta(days=900)).isoformat(),
        "ends_on": (today + timedelta(days=901)).isoformat()})
    assert refused.status_code == 422
    assert "开始日期：必须在距今两年以内" in refused.get_data(as_text=True)
    assert 'value="校运动会"' in refused.get_data(as_text=True)
    with ctx() as db:
        kept = db.get(KeyPeriod, period["id"])
        assert (kept.name, kept.starts_on) == ("校运动会前后", today + timedelta(days=30))


# -- when a period starts ---------------------------------------------------------------------

@pytest.fixture
def cases(ctx, world) -> dict[str, int]:
    """Cases of school S's students in follow-up, on leave and closed; one of school SB's
    in follow-up. t_owner_counselor owns them all."""
    made = {}
    with ctx() as db:
        for key, school, state in (("follow_up", "S", "follow_up"), ("on_leave", "S", "on_leave"),
                                   ("closed", "S", "closed"), ("other_school", "SB", "follow_up")):
            student = Student(school_id=world.orgs[school].id, student_number=f"KP-{key}",
                              name=f"学生{key}")
            db.add(student)
            db.flush()
            case = Case(centre_id=world.orgs["A" if school == "S" else "B"].id,
                        student_id=student.id, source=CaseSource.SCHOOL_REPORT,
                        risk_level=RiskLevel.MODERATE, state=state,
                        owner_id=world.users["owner_counselor"].id,
                        closed_at=utcnow() if state == "closed" else None)
            db.add(case)
            db.flush()
            made[key] = case.id
        db.commit()
    return made


def reviews(ctx) -> dict[int, list[str]]:
    """Each case's key-period reviews, by status."""
    found: dict[int, list[str]] = {}
    with ctx() as db:
        for deadline in db.scalars(select(Deadline).where(Deadline.kind == "key_period_review")
                                   .order_by(Deadline.id)):
            found.setdefault(deadline.case_id, []).append(deadline.status.value)
    return found


def sweep(ctx, now=None) -> int:
    with ctx() as db:
        started = services.start_due_periods(now=now)
        db.commit()
        return started


def test_a_period_starting_makes_a_review_due_for_each_follow_up_case_of_the_school_once(
        api, ctx, world, today, cases):
    period = new_period(api, today, today + timedelta(days=6), "期中考试前后", "exams").json
    assert sweep(ctx) == 1
    assert reviews(ctx) == {cases["follow_up"]: ["pending"]}  # not on leave, closed, or SB's
    with ctx() as db:
        [due] = db.scalars(select(Deadline).where(Deadline.kind == "key_period_review"))
        assert timedelta(days=6, hours=23) < due.due_at - utcnow() <= timedelta(days=7)
        assert db.get(KeyPeriod, period["id"]).reviews_created_at is not None
    assert sweep(ctx) == 0  # once
    # another period of the school starting while the review is pending adds none
    new_period(api, today, today + timedelta(days=2), "校运动会前后")
    assert sweep(ctx) == 1
    assert reviews(ctx) == {cases["follow_up"]: ["pending"]}
    seen = api("psych_reporter").get("/api/key-periods").json
    assert next(p for p in seen if p["id"] == period["id"])["reviews_created_at"]


def test_a_period_starts_on_its_first_day_in_the_schools_time(api, ctx, world, today, cases):
    new_period(api, today + timedelta(days=2), today + timedelta(days=4))
    assert sweep(ctx) == 0 and reviews(ctx) == {}
    assert sweep(ctx, now=utcnow() + timedelta(days=2)) == 1
    assert reviews(ctx) == {cases["follow_up"]: ["pending"]}


def test_a_follow_up_meets_the_review(api, ctx, world, today, cases):
    new_period(api, today, today + timedelta(days=6))
    sweep(ctx)
    recorded = api("owner_counselor").post(f"/api/cases/{cases['follow_up']}/follow-ups", {
        "kind": "phone", "outcome": "重要时段回访：情绪平稳", "occurred_at": utcnow().isoformat()})
    assert recorded.status_code == 201, recorded.json
    assert reviews(ctx) == {cases["follow_up"]: ["met"]}
    with ctx() as db:
        assert deadlines.fire_due(now=utcnow() + timedelta(days=8)) >= 0
        db.commit()
    assert reviews(ctx) == {cases["follow_up"]: ["met"]}  # nothing left to miss


def test_a_missed_review_alerts_the_case_owner_and_the_supervisors(api, client, ctx, world,
                                                                  today, cases):
    new_period(api, today, today + timedelta(days=6))
    sweep(ctx)
    with ctx() as db:
        deadlines.fire_due(now=utcnow() + timedelta(days=6))  # not yet due
        db.commit()
    assert reviews(ctx) == {cases["follow_up"]: ["pending"]}
    with ctx() as db:
        deadlines.fire_due(now=utcnow() + timedelta(days=7, minutes=1))
        db.commit()
    assert reviews(ctx) == {cases["follow_up"]: [DeadlineStatus.FIRED.value]}
    with ctx() as db:
        alerted = {alert.recipient.username for alert in db.scalars(select(Alert).where(
            Alert.case_id == cases["follow_up"], Alert.kind == "missed_key_period_review"))}
    assert alerted == {"t_owner_counselor", "t_supervisor"}
    assert {alert["kind"] for alert in api("owner_counselor").get("/api/alerts").json} == {
        "missed_key_period_review"}
    login(client, "t_owner_counselor", PASSWORD)
    assert "重要时段回访已超时" in client.get("/console/counselor").get_data(as_text=True)


def test_a_period_starting_brings_each_watch_list_review_within_the_review_days(
        api, ctx, world, today):
    from schoolnet.models import WatchListEntry
    psych = world.users["psych_reporter"].id
    with ctx() as db:
        def on_list(number: str, school: str, review_in: int) -> int:
            student = Student(school_id=world.orgs[school].id, student_number=number,
                              name=f"学生{number}")
            db.add(student)
            db.flush()
            entry = WatchListEntry(school_id=student.school_id, student_id=student.id,
                                   risk_level=RiskLevel.MODERATE, owner_id=psych, plan="随访",
                                   next_review_on=today + timedelta(days=review_in),
                                   added_by_id=psych, on_list_key=f"student:{student.id}")
            db.add(entry)
            db.flush()
            return entry.id
        later, sooner, elsewhere = (on_list("WL-later", "S", 30), on_list("WL-soon", "S", 2),
                                    on_list("WL-SB", "SB", 30))
        db.commit()
    new_period(api, today, today + timedelta(days=6), "期中考试前后", "exams")
    assert sweep(ctx) == 1
    with ctx() as db:
        dates = {entry_id: db.get(WatchListEntry, entry_id).next_review_on
                 for entry_id in (later, sooner, elsewhere)}
    assert dates == {later: today + timedelta(days=7), sooner: today + timedelta(days=2),
                     elsewhere: today + timedelta(days=30)}
