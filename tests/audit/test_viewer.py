"""The audit viewer (/audit) and its CSV export, as a supervisor uses them."""
from __future__ import annotations

import ast
import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisisline import audit
from crisisline.audit.labels import CHANGE_LABELS, action_label
from crisisline.audit.models import AuditEntry
from crisisline.i18n import FIELD_LABELS
from state_machines.case_workflow import EVENTS
from tests.conftest import APP_PACKAGES, ROOT, login
from tests.world import PASSWORD

SOURCES = APP_PACKAGES


def recorded(ctx, world, *items) -> None:
    """Commit entries: (action, actor key or name, object type, object id, outcome)."""
    with ctx() as db:
        for action, actor, object_type, object_id, outcome in items:
            actor = world.users[actor] if actor in world.users else actor
            audit.record(action, actor=actor, object_type=object_type, object_id=object_id,
                         outcome=outcome)
        db.commit()


def page(client, **query) -> str:
    response = client.get("/audit", query_string=query)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def shown_seqs(html: str) -> list[int]:
    return [int(seq) for seq in re.findall(r"条目 (\d+)", html)]


@pytest.fixture
def supervisor(client, world):
    login(client, "t_supervisor", PASSWORD)
    return client


def entry_ids(world, key: str) -> str:
    return str(world.records[key].id)


# -- labels -------------------------------------------------------------------------------

def _recorded_action_names() -> set[str]:
    """Every literal action passed to ``audit.record(...)`` in the application's code."""
    names = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "record" \
                        and node.args and isinstance(node.args[0], ast.Constant) \
                        and isinstance(node.args[0].value, str):
                    names.add(node.args[0].value)
    return names


def test_every_action_the_code_records_has_a_chinese_label(app):
    actions = _recorded_action_names()
    assert {"auth.login_failed", "access.denied", "case.open"} <= actions  # the scan works
    actions |= {f"case.{event.name}" for event in EVENTS}  # fire_event's f"case.{name}"
    actions |= {"case.read", "student.read", "case_document.read"}  # record_read
    with app.test_request_context("/"):
        unlabelled = {action for action in actions
                      if action_label(action) == action
                      or not re.search(r"[\u4e00-\u9fff]", action_label(action))}
    assert unlabelled == set()


def _recorded_change_names() -> set[str]:
    """Every literal key of a ``changes={...}`` passed to ``audit.record(...)``."""
    names = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "record":
                    for keyword in node.keywords:
                        if keyword.arg == "changes" and isinstance(keyword.value, ast.Dict):
                            names |= {key.value for key in keyword.value.keys
                                      if isinstance(key, ast.Constant)}
    return names


def test_every_change_the_code_records_has_a_chinese_label(app):
    fields = _recorded_change_names()
    assert {"path", "session"} <= fields  # the scan works
    labels = {**FIELD_LABELS, **CHANGE_LABELS}
    with app.test_request_context("/"):
        unlabelled = {field for field in fields if field not in labels
                      or not re.search(r"[\u4e00-\u9fff]", str(labels[field]))}
    assert unlabelled == set()


def test_the_page_says_in_chinese_who_did_what_to_which_record_and_how_it_ended(
        supervisor, ctx, world):
    case = entry_ids(world, "team_case")
    recorded(ctx, world, ("case.dispatch", "counselor", "case", case, "success"),
             ("access.denied", "reporter", "case", case, "denied"))
    with ctx() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.dispatch")).one()
    html = page(supervisor, record_type="case", record_id=case)
    assert "个案步骤：" in html
    assert ">访问被拒绝<" in html and ">已拒绝<" in html
    assert f"个案 #{case}" in html and "t_counselor" in html and "值班心理咨询师" in html
    assert f"条目 {entry.seq}" in html
    assert ">case.dispatch<" not in html and ">access.denied<" not in html


def test_field_changes_are_readable_and_sensitive_ones_say_only_changed(supervisor, ctx, world):
    from crisisline.accounts import services
    with ctx() as db:
        services.create_user("t_newcomer", "volunteer", "a-long-enough-password",
                             phone="+8613812345678", organisation_codes=["T-A"])
        db.commit()
    html = page(supervisor, action="user.create")
    assert "创建用户" in html
    assert "已更改（不记录内容）" in html and "+8613812345678" not in html
    assert "用户名" in html and "t_newcomer" in html


# -- filters ------------------------------------------------------------------------------

def test_filter_by_time_range(supervisor, ctx, world):
    recorded(ctx, world, ("case.assign", "supervisor", "case", "1", "success"))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    yesterday = today - timedelta(days=1)
    assert "t_supervisor</a>" in page(supervisor, **{"from": today.isoformat(),
                                                    "to": today.isoformat()})
    assert shown_seqs(page(supervisor, to=yesterday.isoformat())) == []
    assert shown_seqs(page(supervisor, **{"from": (today + timedelta(days=1)).isoformat()})) \
        == []


def test_filter_by_person_includes_failed_sign_ins_against_their_account(
        supervisor, ctx, world):
    volunteer = world.users["volunteer"]
    recorded(ctx, world, ("contact.screen", "volunteer", "contact", "1", "success"),
             ("auth.login_failed", "anonymous", "user", str(volunteer.id), "failure"),
             ("contact.screen", "other_volunteer", "contact", "2", "success"))
    with ctx() as db:
        expected = list(db.scalars(select(AuditEntry.seq).where(
            (AuditEntry.actor_id == volunteer.id)
            | ((AuditEntry.object_type == "user") & (AuditEntry.object_id == str(volunteer.id))))
            .order_by(AuditEntry.seq.desc())))
    html = page(supervisor, person="t_volunteer")
    assert shown_seqs(html) == expected and len(expected) >= 2
    assert "登录失败" in html and "t_other_volunteer" not in html


def test_filter_by_action_and_by_outcome(supervisor, ctx, world):
    recorded(ctx, world, ("access.denied", "liaison", "case", "1", "denied"),
             ("case.assign", "supervisor", "case", "1", "success"))
    with ctx() as db:
        denied = list(db.scalars(select(AuditEntry.seq).where(AuditEntry.action ==
                                 "access.denied").order_by(AuditEntry.seq.desc())))
    assert shown_seqs(page(supervisor, action="access.denied")) == denied
    refused = shown_seqs(page(supervisor, outcome="denied"))
    assert set(denied) <= set(refused)
    with ctx() as db:
        assert {db.get(AuditEntry, seq).outcome for seq in refused} == {"denied"}


def test_filter_by_record_type_and_number(supervisor, ctx, world):
    case, other = entry_ids(world, "team_case"), entry_ids(world, "owned_case")
    recorded(ctx, world, ("case.assign", "supervisor", "case", case, "success"),
             ("case.assign", "supervisor", "case", other, "success"),
             ("contact.screen", "volunteer", "contact", case, "success"))
    html = page(supervisor, record_type="case", record_id=case)
    with ctx() as db:
        expected = list(db.scalars(select(AuditEntry.seq).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == case)
            .order_by(AuditEntry.seq.desc())))
    assert shown_seqs(html) == expected and expected


@pytest.mark.parametrize(("field", "value"), [
    ("from", "2026-13-01"), ("to", "0001-01-01"), ("person", "nobody-here"),
    ("record_type", "reactor"), ("record_id", "12a"), ("outcome", "maybe"),
    ("before", "-3"), ("action", "bad\u0000name"),
])
def test_a_bad_filter_is_refused_in_chinese_keeping_what_was_typed(supervisor, field, value):
    response = supervisor.get("/audit", query_string={field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="field-error"' in html and re.search(r"[\u4e00-\u9fff]", html)
    if field in ("from", "person", "record_id"):
        assert f'value="{value}"' in html
    if field != "before":  # the export has no pages
        assert supervisor.get("/audit/export.csv",
                              query_string={field: value}).status_code == 422


# -- paging -------------------------------------------------------------------------------

def test_pages_go_back_through_the_trail_without_gaps_or_repeats(supervisor, ctx, world):
    recorded(ctx, world, *[("case.assign", "supervisor", "case", str(n), "success")
                           for n in range(120)])
    seen, url, pages = [], "/audit?action=case.assign", 0
    while url:
        html = supervisor.get(url).get_data(as_text=True)
        seqs = shown_seqs(html)
        assert len(seqs) <= 50 and seqs == sorted(seqs, reverse=True)
        seen += seqs
        pages += 1
        older = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = older.group(1).replace("&amp;", "&") if older else None
    with ctx() as db:
        expected = list(db.scalars(select(AuditEntry.seq).where(
            AuditEntry.action == "case.assign").order_by(AuditEntry.seq.desc())))
    assert seen == expected and pages == 3


# -- scope --------------------------------------------------------------------------------

def test_the_centre_sees_its_records_and_staff_and_nothing_of_another_centre(
        supervisor, ctx, world):
    o = world.orgs
    ours = [("case.read", "outsider_counselor", "case", entry_ids(world, "team_case"),
             "success"),  # another centre's counselor on our case
            ("access.denied", "liaison", "referral", entry_ids(world, "referral_h2"),
             "denied"),  # a liaison of a hospital our cases are referred to
            ("access.denied", "reporter", "case", entry_ids(world, "case_b"), "denied"),
            ("auth.login_failed", "anonymous", "user", str(world.users["reporter"].id),
             "failure"),
            ("student.read", "admin", "student", entry_ids(world, "student"), "success"),
            ("school_report.read", "admin", "school_report", entry_ids(world, "report"),
             "success"),
            ("organisation.create", "system", "organisation", str(o["S"].id), "success")]
    theirs = [("case.read", "outsider_counselor", "case", entry_ids(world, "case_b"),
               "success"),
              ("access.denied", "other_liaison", "referral", entry_ids(world, "referral_h2"),
               "denied"),
              ("auth.login_failed", "anonymous", "user",
               str(world.users["outsider_counselor"].id), "failure"),
              ("student.read", "other_supervisor", "student", entry_ids(world, "student_b"),
               "success")]
    recorded(ctx, world, *ours, *theirs)
    with ctx() as db:
        newest = list(db.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())
                                 .limit(len(ours) + len(theirs))))[::-1]
    shown = set(shown_seqs(page(supervisor)))
    assert [seq in shown for seq in newest] == [True] * len(ours) + [False] * len(theirs)


def test_only_supervisors_may_read_the_trail(client, world):
    login(client, "t_counselor", PASSWORD)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


# -- export -------------------------------------------------------------------------------

def test_the_csv_export_has_the_filtered_entries_in_excel_readable_utf8_and_is_audited(
        supervisor, ctx, world):
    case = entry_ids(world, "team_case")
    recorded(ctx, world, ("access.denied", "reporter", "case", case, "denied"),
             ("case.assign", "supervisor", "case", case, "success"))
    response = supervisor.get("/audit/export.csv", query_string={"record_type": "case",
                                                                 "record_id": case})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["序号", "时间", "操作人", "角色", "操作"]
    with ctx() as db:
        expected = [str(seq) for seq in db.scalars(select(AuditEntry.seq).where(
            AuditEntry.object_type == "case", AuditEntry.object_id == case)
            .order_by(AuditEntry.seq.desc()))]
        export = db.scalars(select(AuditEntry).where(AuditEntry.action == "audit.export")
                            ).one()
    assert [row[0] for row in rows[1:]] == expected
    refusal = next(row for row in rows[1:] if row[2] == "t_reporter")
    assert refusal[4] == "访问被拒绝" and refusal[7] == "已拒绝" and refusal[5] == "个案"
    assert (export.actor_name, export.outcome) == ("t_supervisor", "success")
    assert export.changes["filters"]["new"] == {"record_type": "case", "record_id": case}
    assert export.changes["rows"]["new"] == len(expected)
    assert "导出审计日志" in page(supervisor, action="audit.export")


# -- a phone ------------------------------------------------------------------------------

def test_the_time_filters_say_they_are_dates_not_workflow_states(supervisor, world):
    html = page(supervisor)
    assert ">起始日期</label>" in html and ">截止日期</label>" in html
    assert "原状态" not in html  # what "From" reads as on the case history


def test_the_trail_is_cards_that_wrap_not_a_wide_table(supervisor, ctx, world):
    recorded(ctx, world, ("case.list", "supervisor", "case", None, "success"))
    html = page(supervisor)
    assert "<table" not in html and 'class="trail"' in html
    css = (ROOT / "crisisline" / "static" / "crisisline.css").read_text()
    assert re.search(r"\.trail \.entry \{[^}]*overflow-wrap: anywhere", css)
    assert re.search(r"\.bar \{ flex-wrap: wrap; \}", css)
