"""The school's watch list (动态清单) and its review meetings (研判会): reviews that keep,
lower, raise or remove a student, a meeting's decisions applied all or none, the alerts of
missed reviews and interviews, and who sees the list; through the API, as schools use it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from casework.models import Alert, Case, RiskLevel
from crisisline.database import utcnow
from crisisline.audit.models import AuditEntry
from schoolnet import screening, watch_list
from schoolnet.models import (ReviewMeeting, ScreeningWarning, WatchListEntry,
                              WatchReview)
from tests.schoolnet.test_screening import (  # noqa: F401 (_school_today: autouse fixture)
    _school_today, close_open_cases, interview, local_today, number_of, warned)


def on_list(api, world, network, ctx, *, second: bool = False,
            risk_level: str = "moderate") -> int:
    """学生甲 (class C1; owner: their head teacher) or, ``second``, 学生乙 (class C2; owner:
    the psychology centre's t_psych_reporter) put on the watch list; the entry's id."""
    if second:
        row = f"{number_of(ctx, network.student_c2)},15,0"
        warning = warned(api, world, network, ctx, row=row)
        interview(api, warning, name="centre")
        extra = {"owner_id": world.users["psych_reporter"].id}
    else:
        warning = warned(api, world, network, ctx)
        interview(api, warning)
        extra = {}
    graded = api("centre").post(f"/api/screening-warnings/{warning}/assessment", {
        "risk_level": risk_level, "plan": "班主任每周谈心一次",
        "review_on": (local_today() + timedelta(days=14)).isoformat(), **extra})
    assert graded.status_code == 200, graded.json
    with ctx() as db:
        return db.scalar(select(WatchListEntry.id).where(
            WatchListEntry.warning_id == warning))


def listed(api, name: str = "centre") -> dict[int, dict]:
    return {entry["id"]: entry for entry in api(name).get("/api/watch-list").json}


def review(api, entry_id: int, name: str = "c1_head", **decision):
    return api(name).post(f"/api/watch-list/{entry_id}/reviews", decision)


def entry_of(ctx, entry_id: int) -> dict:
    with ctx() as db:
        entry = db.get(WatchListEntry, entry_id)
        return {"risk_level": entry.risk_level.value, "next_review_on": entry.next_review_on,
                "on_list": entry.on_list_key is not None, "case_id": entry.case_id,
                "removed_reason": entry.removed_reason,
                "reviews": [(r.decision.value, r.risk_level.value) for r in entry.reviews]}


def test_keeping_a_student_moves_the_next_review_and_records_the_review(
        api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    later = local_today() + timedelta(days=21)
    kept = review(api, entry_id, decision="keep", note="情绪好转，继续观察",
                  next_review_on=later.isoformat())
    assert kept.status_code == 201, kept.json
    assert (kept.json["decision"], kept.json["risk_level"], kept.json["next_review_on"],
            kept.json["entry_id"], kept.json["meeting_id"], kept.json["case_id"]) == (
        "keep", "moderate", later.isoformat(), entry_id, None, None)
    assert kept.json["reviewed_by"]["name"] == "c1_head"
    assert listed(api)[entry_id]["next_review_on"] == later.isoformat()

    again = review(api, entry_id, decision="keep")
    assert again.status_code == 201, again.json
    default = local_today() + timedelta(days=30)  # the policy's watch_review_days
    assert again.json["next_review_on"] == default.isoformat()
    shown = listed(api)[entry_id]
    assert (shown["next_review_on"], shown["on_list"], shown["risk_level"]) == (
        default.isoformat(), True, "moderate")
    assert entry_of(ctx, entry_id)["reviews"] == [("keep", "moderate"), ("keep", "moderate")]


def test_a_review_date_in_the_past_is_refused(api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    refused = review(api, entry_id, decision="keep",
                     next_review_on=(local_today() - timedelta(days=1)).isoformat())
    assert refused.status_code == 422
    assert set(refused.json["fields"]) == {"next_review_on"}
    assert entry_of(ctx, entry_id)["reviews"] == []


def test_lowering_a_moderate_student_sets_low_and_lowering_a_low_one_is_refused(
        api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    lowered = review(api, entry_id, decision="lower", note="已稳定")
    assert lowered.status_code == 201, lowered.json
    assert lowered.json["risk_level"] == "low"
    assert listed(api)[entry_id]["risk_level"] == "low"
    refused = review(api, entry_id, decision="lower")
    assert refused.status_code == 422
    assert set(refused.json["fields"]) == {"decision"}
    assert entry_of(ctx, entry_id)["reviews"] == [("lower", "low")]


def test_an_unknown_decision_is_refused_naming_the_decision(api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    refused = review(api, entry_id, decision="forget")
    assert refused.status_code == 422
    assert set(refused.json["fields"]) == {"decision"}


def test_raising_to_moderate_keeps_the_student_on_the_list(api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx, risk_level="low")
    raised = review(api, entry_id, decision="raise", risk_level="moderate", note="失眠加重")
    assert raised.status_code == 201, raised.json
    assert (raised.json["risk_level"], raised.json["case_id"]) == ("moderate", None)
    shown = listed(api)[entry_id]
    assert (shown["risk_level"], shown["on_list"]) == ("moderate", True)
    # no level at or below the present one is a raise
    refused = review(api, entry_id, decision="raise", risk_level="moderate")
    assert refused.status_code == 422 and set(refused.json["fields"]) == {"risk_level"}


def test_raising_to_high_opens_a_crisis_case_and_the_student_leaves_the_list(
        api, world, network, ctx):
    close_open_cases(ctx, world)
    entry_id = on_list(api, world, network, ctx)
    raised = review(api, entry_id, decision="raise", risk_level="high", note="出现自伤念头")
    assert raised.status_code == 201, raised.json
    assert raised.json["risk_level"] == "high" and raised.json["next_review_on"] is None
    case_id = raised.json["case_id"]
    assert case_id
    assert entry_id not in listed(api)
    assert api("c1_head").get("/api/watch-list").json == []
    with ctx() as db:
        entry = db.get(WatchListEntry, entry_id)
        assert (entry.on_list_key, entry.case_id, entry.risk_level.value) == (
            None, case_id, "high")
        assert entry.removed_at is not None and entry.removed_reason
        case = db.get(Case, case_id)
        assert (case.source.value, case.student_id, case.centre_id, case.risk_level.value) == (
            "screening", network.student_c1, world.orgs["A"].id, "high")
    # off the list, the student is reviewed no more
    assert review(api, entry_id, decision="keep").status_code == 422


def test_removing_a_student_needs_a_reason_which_is_kept(api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    refused = review(api, entry_id, decision="remove")
    assert refused.status_code == 422
    assert set(refused.json["fields"]) == {"note"}
    blank = review(api, entry_id, decision="remove", note="   ")
    assert blank.status_code == 422 and set(blank.json["fields"]) == {"note"}
    assert entry_id in listed(api)

    removed = review(api, entry_id, decision="remove", note="已毕业离校")
    assert removed.status_code == 201, removed.json
    assert removed.json["next_review_on"] is None
    assert entry_id not in listed(api)
    entry = entry_of(ctx, entry_id)
    assert (entry["on_list"], entry["removed_reason"], entry["case_id"]) == (
        False, "已毕业离校", None)


def meeting(api, world, *decisions: dict, name: str = "centre", **extra):
    return api(name).post("/api/review-meetings", {
        "school_id": world.orgs["S"].id, "held_on": local_today().isoformat(),
        "note": "心理中心、辅导员参加", "decisions": list(decisions), **extra})


def test_a_review_meeting_applies_each_of_its_decisions(api, world, network, ctx):
    first = on_list(api, world, network, ctx)
    second = on_list(api, world, network, ctx, second=True)
    later = local_today() + timedelta(days=10)
    held = meeting(api, world,
                   {"entry_id": first, "decision": "keep", "next_review_on": later.isoformat()},
                   {"entry_id": second, "decision": "remove", "note": "转学"})
    assert held.status_code == 201, held.json
    assert held.json["held_by"]["name"] == "centre"
    assert [(r["entry_id"], r["decision"], r["meeting_id"]) for r in held.json["reviews"]] == [
        (first, "keep", held.json["id"]), (second, "remove", held.json["id"])]
    shown = listed(api)
    assert set(shown) == {first}
    assert shown[first]["next_review_on"] == later.isoformat()
    assert entry_of(ctx, second)["removed_reason"] == "转学"
    with ctx() as db:
        assert db.scalar(select(func.count()).select_from(ReviewMeeting)) == 1


def test_a_meeting_with_one_refused_decision_applies_none_and_names_it_by_place(
        api, world, network, ctx):
    close_open_cases(ctx, world)
    first = on_list(api, world, network, ctx)
    second = on_list(api, world, network, ctx, second=True)
    before = {first: entry_of(ctx, first), second: entry_of(ctx, second)}
    later = (local_today() + timedelta(days=10)).isoformat()
    with ctx() as db:
        cases = db.scalar(select(func.count()).select_from(Case))

    no_reason = meeting(api, world,
                        {"entry_id": first, "decision": "keep", "next_review_on": later},
                        {"entry_id": second, "decision": "remove"})
    assert no_reason.status_code == 422
    assert no_reason.json["fields"] == {"decisions": "第 2 项：备注：请说明移出清单的原因"}
    # a raise to high refused with the rest opens no case and alerts no one
    no_case = meeting(api, world, {"entry_id": first, "decision": "raise", "risk_level": "high",
                                   "note": "出现自伤念头"},
                      {"entry_id": second, "decision": "remove", "note": ""})
    assert no_case.status_code == 422
    assert no_case.json["fields"] == {"decisions": "第 2 项：备注：请说明移出清单的原因"}
    with ctx() as db:
        assert db.scalar(select(func.count()).select_from(Case)) == cases
        assert db.scalar(select(func.count()).select_from(Alert)) == 0

    with ctx() as db:  # a student of another school (SB) on that school's list
        other = WatchListEntry(
            school_id=world.orgs["SB"].id, student_id=world.records["student_b"].id,
            risk_level=RiskLevel.MODERATE,
            owner_id=world.users["outsider_counselor"].id, plan="随访",
            next_review_on=local_today() + timedelta(days=5),
            added_by_id=world.users["outsider_counselor"].id,
            on_list_key=f"student:{world.records['student_b'].id}")
        db.add(other)
        db.commit()
        other_id = other.id
    for stranger in (other_id, 999999):  # refused as a record the teacher cannot see
        refused = meeting(api, world,
                          {"entry_id": first, "decision": "keep", "next_review_on": later},
                          {"entry_id": stranger, "decision": "keep"})
        assert refused.status_code == 404, refused.json
    with ctx() as db:  # reaching for another school's student is on the audit trail
        assert db.scalar(select(AuditEntry).where(
            AuditEntry.action == "access.denied", AuditEntry.object_type == "watch_list_entry",
            AuditEntry.object_id == str(other_id))) is not None

    twice = meeting(api, world, {"entry_id": first, "decision": "keep"},
                    {"entry_id": second, "decision": "keep"},
                    {"entry_id": first, "decision": "lower"})
    assert twice.status_code == 422
    assert twice.json["fields"] == {"decisions": "第 3 项：动态清单中的学生：该学生被重复研判"}

    assert {first: entry_of(ctx, first), second: entry_of(ctx, second)} == before
    with ctx() as db:
        assert db.scalar(select(func.count()).select_from(ReviewMeeting)) == 0
        assert db.scalar(select(func.count()).select_from(WatchReview)) == 0


def test_only_the_schools_psychology_centre_holds_a_review_meeting(api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    refused = meeting(api, world, {"entry_id": entry_id, "decision": "keep"}, name="c1_head")
    assert refused.status_code == 403
    elsewhere = meeting(api, world, {"entry_id": entry_id, "decision": "keep"},
                        school_id=world.orgs["SB"].id)
    assert elsewhere.status_code == 403
    future = meeting(api, world, {"entry_id": entry_id, "decision": "keep"},
                     held_on=(local_today() + timedelta(days=1)).isoformat())
    assert future.status_code == 422 and set(future.json["fields"]) == {"held_on"}
    assert entry_of(ctx, entry_id)["reviews"] == []
    with ctx() as db:
        assert db.scalar(select(func.count()).select_from(ReviewMeeting)) == 0


def sweep(ctx, now) -> int:
    with ctx() as db:
        told = watch_list.alert_overdue_reviews(now)
        db.commit()
        return told


def alerted(ctx, entry_id: int) -> list[tuple[str, str]]:
    with ctx() as db:
        return sorted((alert.kind, alert.recipient.username) for alert in db.scalars(
            select(Alert).where(Alert.watch_entry_id == entry_id)))


def test_a_missed_review_alerts_the_owner_then_the_psychology_centre_once_each(
        api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    missed = local_today() - timedelta(days=1)
    with ctx() as db:
        db.get(WatchListEntry, entry_id).next_review_on = missed
        db.commit()
    assert listed(api)[entry_id]["overdue"] is True
    now = utcnow()
    assert sweep(ctx, now) == 1
    owner = [("watch_review_overdue", "t_c1_head")]
    assert alerted(ctx, entry_id) == owner
    assert sweep(ctx, now) == 0
    assert sweep(ctx, now + timedelta(days=2)) == 0  # not yet 3 days past the date
    assert alerted(ctx, entry_id) == owner

    assert sweep(ctx, now + timedelta(days=4)) == 1  # more than 3 days past
    centre = [("watch_review_long_overdue", "t_centre"),
              ("watch_review_long_overdue", "t_psych_reporter")]
    assert alerted(ctx, entry_id) == sorted(owner + centre)
    assert sweep(ctx, now + timedelta(days=5)) == 0
    assert alerted(ctx, entry_id) == sorted(owner + centre)

    next_review = local_today() + timedelta(days=7)
    kept = review(api, entry_id, decision="keep", next_review_on=next_review.isoformat())
    assert kept.status_code == 201, kept.json
    assert listed(api)[entry_id]["overdue"] is False
    assert sweep(ctx, now) == 0
    assert sweep(ctx, now + timedelta(days=7)) == 0  # the new date is today: not missed
    assert sweep(ctx, now + timedelta(days=8)) == 1
    assert alerted(ctx, entry_id) == sorted(owner * 2 + centre)
    assert sweep(ctx, now + timedelta(days=9)) == 0


def test_a_student_off_the_list_is_never_alerted(api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    assert review(api, entry_id, decision="remove", note="已转学").status_code == 201
    assert sweep(ctx, utcnow() + timedelta(days=60)) == 0
    assert alerted(ctx, entry_id) == []


def test_only_the_students_teachers_and_the_centre_see_the_watch_list(
        api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    # the centre's counselors assess second warnings; the school's list is not theirs
    for name in ("c1_committee", "r_dorm", "volunteer", "c2_committee", "d_head",
                 "counselor"):
        assert api(name).get("/api/watch-list").json == [], name
    for name in ("c1_head", "d_counsellor", "centre", "psych_reporter", "supervisor"):
        assert [e["student"]["id"] for e in api(name).get("/api/watch-list").json] == [
            network.student_c1], name
    assert api("outsider_counselor").get("/api/watch-list").json == []
    for name in ("c1_committee", "r_dorm", "volunteer"):
        refused = review(api, entry_id, name=name, decision="keep")
        assert refused.status_code in (403, 404), name
    assert entry_of(ctx, entry_id)["reviews"] == []


def test_an_overdue_interview_alerts_the_teachers_and_the_centre_once(
        api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    with ctx() as db:
        assert screening.alert_overdue_interviews() == 0  # due in a week
        db.get(ScreeningWarning, warning).due_at = utcnow() - timedelta(hours=1)
        db.commit()
    with ctx() as db:
        assert screening.alert_overdue_interviews() == 1
        db.commit()
    with ctx() as db:
        assert screening.alert_overdue_interviews() == 0
        db.commit()
        told = sorted((alert.kind, alert.recipient.username) for alert in db.scalars(
            select(Alert).where(Alert.screening_warning_id == warning)))
    assert told == [("screening_interview_overdue", name) for name in (
        "t_c1_head", "t_centre", "t_d_counsellor", "t_psych_reporter")]


def test_an_interviewed_warning_is_never_overdue(api, world, network, ctx):
    warning = warned(api, world, network, ctx)
    interview(api, warning, "cleared")
    with ctx() as db:
        db.get(ScreeningWarning, warning).due_at = utcnow() - timedelta(hours=1)
        db.commit()
    with ctx() as db:
        assert screening.alert_overdue_interviews() == 0
        db.commit()


def test_a_missed_review_of_an_owner_who_has_left_goes_to_the_psychology_centre(
        api, world, network, ctx):
    entry_id = on_list(api, world, network, ctx)
    with ctx() as db:
        entry = db.get(WatchListEntry, entry_id)
        entry.next_review_on = local_today() - timedelta(days=1)
        entry.owner.disabled_at = utcnow()
        db.commit()
    sweep(ctx, utcnow())
    with ctx() as db:
        told = {alert.recipient.username for alert in db.scalars(select(Alert).where(
            Alert.kind == "watch_review_overdue"))}
    assert told == {"t_centre", "t_psych_reporter"}
