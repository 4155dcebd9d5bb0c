"""Bad input anywhere is refused with a 4xx naming the field, never a 500 (issue 11, C11).

The walk covers every operation of ``/api/openapi.json`` (each field of its body or query,
and each field of every workflow event's ``data``) and every form a signed-in person can
post from the pages, with: an unpaired surrogate, NUL (PostgreSQL refuses it in text), an
escape character, a year-1 and a year-2101 date, a name with a right-to-left override, and
JSON nested 5,000 deep. A refused form either answers 4xx or returns to its page with an
error flashed for the field; nothing is answered 500.
"""
from __future__ import annotations

import re
from datetime import timedelta

import marshmallow as ma
import pyotp
import pytest
from sqlalchemy import select

from casework.models import Case
from casework.workflow import HANDLERS
from crisisline.access.models import BreakGlassGrant
from crisisline.accounts.models import ReporterIdentity, SchoolUnit, Team, UnitKind, User
from crisisline.database import utcnow
from crisisline.i18n import field_label
from crisisline.validation import MAX_JSON_DEPTH
from hotline.models import Contact, ContactStatus
from state_machines.case_workflow import EVENTS_BY_NAME, STATES
from tests.conftest import login

SURROGATE, NUL, ESCAPE = "\ud800", "a\x00b", "a\x1bb"
BIDI_NAME = "张\u202e三"  # RIGHT-TO-LEFT OVERRIDE: the name would read backwards
DEEP = "[" * 5000 + "]" * 5000
BAD_DATES = {"date-time": ("0001-01-01T00:00:00+14:00", "2101-01-01T00:00:00+08:00",
                           "1899-12-31T23:00:00+00:00"),
             "date": ("0001-01-01", "2101-01-01", "1899-12-31")}
BAD_LOCAL_TIMES = {"datetime-local": ("0001-01-01T00:00", "2101-01-01T09:00"),
                   "date": ("0001-01-01", "2101-01-01")}
NAME_FIELDS = {"username", "display_name", "responder", "watcher",  # names of people
               "name", "guardian1_name", "guardian2_name", "guardian3_name"}


def refused(response, field: str | None = None) -> bool:
    """A 4xx (not 404/405: the request reached its view) that names ``field``."""
    if not 400 <= response.status_code < 500 or response.status_code in (404, 405):
        return False
    return field is None or field in response.get_data(as_text=True)


# -- the JSON API, from its OpenAPI description --------------------------------------------

def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _valid(prop: dict):
    """A plausible value of the property's type, so only the field under test is bad."""
    kind, shape = prop.get("type"), prop.get("format")
    if prop.get("enum"):
        return prop["enum"][0]
    return {"integer": 1, "boolean": True, "array": [], "object": {}}.get(kind) or {
        "date-time": "2026-11-20T09:00:00+08:00", "date": "2026-11-20"}.get(shape, "正常的文字")


def _bad_values(name: str, prop: dict) -> list:
    if prop.get("type") != "string":
        return []
    if prop.get("format") in BAD_DATES:
        return list(BAD_DATES[prop["format"]])
    return [SURROGATE, NUL, ESCAPE] + ([BIDI_NAME] if name in NAME_FIELDS else [])


@pytest.fixture
def ids(world, ctx):
    """A value for every path parameter of the API."""
    r = world.records
    return {"case_id": r["team_case"].id, "contact_id": r["contact"].id, "grant_id": 1,
            "referral_id": r["referral_transfer"].id, "record_id": r["team_case"].id,
            "document_id": 1, "offer_id": 1, "alert_id": 1, "event": "dispatch",
            "code": world.orgs["A"].code, "unit_id": 1, "team_id": 1,
            "username": world.users["counselor"].username,
            "user_id": world.users["volunteer"].id, "report_id": r["report"].id,
            "period_id": r["key_period"].id, "campaign_id": 1, "warning_id": 1, "entry_id": 1,
            "message_id": 1, "feedback_id": 1}


def _operations(spec: dict, ids: dict):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
            yield method, path, url, operation


def test_every_api_field_refuses_bad_text_dates_and_names(client, api, ids):
    supervisor = api("supervisor")
    spec = client.get("/api/openapi.json").json
    problems, tried = [], 0
    for method, path, url, operation in _operations(spec, ids):
        for content_type, body in operation.get("requestBody", {}).get("content", {}).items():
            schema = _resolve(spec, body["schema"])
            valid = {name: _valid(prop) for name, prop in schema["properties"].items()}
            for name, prop in schema["properties"].items():
                for bad in _bad_values(name, prop):
                    tried += 1
                    if content_type == "application/json":
                        response = client.open(url, method=method, json={**valid, name: bad},
                                               headers=supervisor.headers)
                    elif bad == SURROGATE:
                        continue  # a form cannot carry one: it is decoded with replacement
                    else:
                        response = client.open(url, method=method, data={**valid, name: bad},
                                               headers=supervisor.headers)
                    if not refused(response, name):
                        problems.append((method, path, name, repr(bad), response.status_code,
                                         response.get_data(as_text=True)[:200]))
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            for bad in (NUL, ESCAPE):
                tried += 1
                response = client.open(url, method=method, headers=supervisor.headers,
                                       query_string={parameter["name"]: bad})
                if not refused(response, parameter["name"]):
                    problems.append((method, path, parameter["name"], repr(bad),
                                     response.status_code, response.get_data(as_text=True)[:200]))
    assert tried > 60
    assert problems == []


def test_every_json_operation_refuses_json_nested_5000_deep(client, api, ids):
    supervisor = api("supervisor")
    spec = client.get("/api/openapi.json").json
    problems, tried = [], 0
    for method, path, url, operation in _operations(spec, ids):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        schema = _resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
        first = next(iter(schema["properties"]))
        for body in (DEEP, '{"%s": %s}' % (first, DEEP)):
            tried += 1
            response = client.open(url, method=method, data=body, headers=supervisor.headers,
                                   content_type="application/json")
            if not refused(response):
                problems.append((method, path, body[:20], response.status_code))
    assert tried >= 20
    assert problems == []


def test_json_a_little_less_deep_than_the_limit_is_still_read(client, api, world):
    """The limit refuses only what no client of ours sends: a body at the limit is read."""
    nested = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    response = client.post(f"/api/contacts/{world.records['contact'].id}/screen",
                           data='{"answers": {"deep": %s}}' % nested,
                           headers=api("volunteer").headers, content_type="application/json")
    assert response.status_code == 422
    assert response.json["fields"]["answers"]  # read, and answered by the service


def _fire_as(event: str) -> str:
    roles = EVENTS_BY_NAME[event].roles
    return next(role for role in ("counselor", "supervisor", "liaison")
                if (role if role != "liaison" else "hospital_liaison") in roles)


def _in_state(ctx, case_id: int, state: str) -> int:
    with ctx() as db:
        case = db.get(Case, case_id)
        case.state = state
        db.commit()
        return case.version


@pytest.mark.parametrize("event", sorted(HANDLERS))
def test_every_workflow_event_field_refuses_bad_text_dates_and_names(client, api, ctx, world,
                                                                      event):
    case_id = world.records["team_case"].id
    version = _in_state(ctx, case_id, EVENTS_BY_NAME[event].source)
    caller = api(_fire_as(event))
    schema = HANDLERS[event][0]()
    problems = []
    for name, field in schema.fields.items():
        if isinstance(field, ma.fields.Date):
            bads = BAD_DATES["date"]
        elif isinstance(field, ma.fields.DateTime):
            bads = BAD_DATES["date-time"]
        elif isinstance(field, ma.fields.String):
            bads = (SURROGATE, NUL, ESCAPE) + ((BIDI_NAME,) if name in NAME_FIELDS else ())
        else:
            continue
        for bad in bads:
            response = caller.post(f"/api/cases/{case_id}/events/{event}",
                                   json={"version": version, "data": {name: bad}})
            if not refused(response, name):
                problems.append((name, repr(bad), response.status_code,
                                 response.get_data(as_text=True)[:200]))
    assert problems == []


# -- every form a person can post from the pages -------------------------------------------

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S)
FIELD = re.compile(r"<(input|textarea|select)\b([^>]*)>", re.S)
ATTRIBUTE = re.compile(r'(\w[\w-]*)="([^"]*)"')
# forms that carry nothing but the CSRF token: there is no field to make bad
TOKEN_ONLY = {"accounts.logout", "hotline.change_presence", "hotline.answer_offer",
              "hotline.transfer", "casework.acknowledge_alert", "accounts.admin_disable_user",
              # hidden fields only (a forged upload name: tests/imports)
              "imports.confirm",
              "accounts.sign_in_link", "accounts.two_factor_start", "accounts.admin_enable_user"}
# forms shown only mid-way through a sign-in or with two-factor sign-in on: walked by
# test_the_two_factor_forms_refuse_bad_text
TWO_FACTOR_FORMS = {"accounts.login_code", "accounts.two_factor_off"}


@pytest.fixture
def every_form_on_show(world, ctx):
    """Records in the states that put each form on a page."""
    r, u = world.records, world.users
    with ctx() as db:
        db.get(Contact, r["contact"].id).status = ContactStatus.ACTIVE
        counselor_contact = db.get(Contact, r["counselor_contact"].id)
        counselor_contact.status = ContactStatus.ACTIVE
        counselor_contact.risk_level = "high"
        # a disabled user (the re-enable form) and a supervisor setting up two-factor
        # sign-in (the code form)
        db.get(User, u["other_volunteer"].id).disabled_at = utcnow()
        db.get(User, u["supervisor"].id).totp_secret = pyotp.random_base32()
        db.add(Contact(centre_id=world.orgs["A"].id, channel="voice",
                       caller_number="+8613011112222", status=ContactStatus.ABANDONED,
                       ended_at=utcnow()))
        db.get(type(r["referral_transfer"]), r["referral_transfer"].id).arrived_at = utcnow()
        db.add(BreakGlassGrant(user_id=u["counselor"].id, object_type="case",
                               object_id=r["case_b"].id, reason="学生有生命危险，需要立即查看",
                               expires_at=utcnow() + timedelta(minutes=30)))
        db.add(SchoolUnit(school_id=world.orgs["S"].id, kind=UnitKind.GRADE, name="初一"))
        # the class committee member of a class (the weekly class report's form)
        class_unit = SchoolUnit(school_id=world.orgs["S"].id, kind=UnitKind.CLASS, name="1班")
        db.add(class_unit)
        db.flush()
        committee = db.get(User, u["other_reporter"].id)
        committee.reporter_identity = ReporterIdentity.CLASS_COMMITTEE
        committee.memberships[0].unit_id = class_unit.id
        world.team_id = db.scalar(select(Team.id).where(Team.centre_id == world.orgs["A"].id))
        world.campaign_id = _screening(world, class_unit)
        _triage_feedback(world, counselor_contact)
        db.add(BreakGlassGrant(user_id=u["counselor"].id, object_type="case",  # shut
                               object_id=r["transfer_case"].id, reason="学生有生命危险需要立即查看",
                               expires_at=utcnow(), reviewed_by_id=u["supervisor"].id,
                               reviewed_at=utcnow(), review_outcome="unjustified",
                               review_note="没有理由"))
        db.commit()
    return world


def _triage_feedback(world, contact) -> None:
    """A text on the counselor's chat, as triage judged it (the form to mark it wrong), and
    the volunteer's word on another waiting for the supervisors (the review form)."""
    from casework.models import RiskLevel
    from crisisline.database import db
    from hotline.models import ContactMessage, TriageFeedback
    from hotline.triage import judge
    for body in ("我已经想好了", "今天好累"):
        message = ContactMessage(contact=contact, inbound=True, body=body,
                                 triage=judge(body).explain())
        db.add(message)
    db.add(TriageFeedback(message=message, centre_id=contact.centre_id,
                          given_by_id=world.users["volunteer"].id,
                          triage_level=RiskLevel(message.triage["level"]),
                          judged_level=RiskLevel.HIGH))
    db.flush()


def _screening(world, class_unit) -> int:
    """A campaign of school S with a warning to interview and one to assess, and a student on
    the watch list (the screening pages' forms); the psychology centre sees them all."""
    from casework.models import RiskLevel, Student
    from crisisline.database import db
    from schoolnet.models import (Instrument, ScreeningCampaign, ScreeningResult,
                                  ScreeningWarning, WatchListEntry)
    psych = world.users["psych_reporter"].id
    campaign = ScreeningCampaign(school_id=world.orgs["S"].id, name="普测",
                                 instrument=Instrument.PHQ9, started_on=utcnow().date(),
                                 created_by_id=psych)
    db.add(campaign)
    for number, state in enumerate(("awaiting_interview", "second_warning")):
        student = Student(school_id=world.orgs["S"].id, student_number=f"V{number}",
                          name=f"学生{number}", class_unit_id=class_unit.id)
        result = ScreeningResult(campaign=campaign, student=student, total=15,
                                 self_harm_item=0)
        db.add(ScreeningWarning(campaign=campaign, result=result, student=student,
                                school_id=student.school_id, urgent=False,
                                due_at=utcnow() + timedelta(days=7), state=state))
    db.flush()
    db.add(WatchListEntry(school_id=world.orgs["S"].id, student=student,
                          risk_level=RiskLevel.MODERATE, owner_id=psych, plan="每周谈心",
                          next_review_on=utcnow().date() + timedelta(days=30),
                          added_by_id=psych, on_list_key=f"student:{student.id}"))
    db.flush()
    return campaign.id


def _pages(world) -> list[tuple[str | None, str]]:
    r = world.records
    team_case = r["team_case"].id
    pages = [(None, "/login"), (None, "/chat"), ("volunteer", "/console/volunteer"),
             ("volunteer", f"/contacts/{r['contact'].id}"),
             ("counselor", f"/contacts/{r['counselor_contact'].id}"),
             ("counselor", "/console/counselor"), ("counselor", f"/cases/{team_case}"),
             ("counselor", f"/break-glass/case/{r['case_b'].id}"),
             ("supervisor", "/console/supervisor"), ("supervisor", "/break-glass/reviews"),
             ("supervisor", f"/cases/{team_case}"), ("admin", "/admin/users"),
             ("admin", "/admin/import"),
             ("admin", f"/admin/users/{world.users['volunteer'].id}"),
             ("admin", f"/admin/users/{world.users['other_volunteer'].id}"),
             ("volunteer", "/account"), ("supervisor", "/account"),
             ("reporter", "/school"), ("liaison", "/portal/hospital"),
             ("admin", "/students/new"), ("admin", f"/students/{r['student'].id}/edit"),
             ("counselor", f"/students/{r['student'].id}/edit"),
             ("counselor", f"/school-reports/{r['report'].id}"),
             ("other_reporter", "/school/routine/weekly_class"),
             ("psych_reporter", "/school/key-periods"),
             ("psych_reporter", "/school/screening"),
             ("psych_reporter", f"/school/screening/{world.campaign_id}"),
             ("psych_reporter", "/school/watch-list"),
             ("supervisor", "/triage/feedback")]
    o = world.orgs
    pages += [("admin", f"/admin/district/{kinds}/new")
              for kinds in ("centres", "schools", "hospitals")]
    pages += [("admin", "/admin/district/centres/" + o["A"].code),
              ("admin", "/admin/district/schools/" + o["S"].code),
              ("admin", "/admin/district/hospitals/" + o["H1"].code),
              ("admin", f"/admin/district/teams/{world.team_id}")]
    return pages


def _forms(html: str, page: str):
    for attributes, inner in FORM.findall(html):
        attrs = dict(ATTRIBUTE.findall(attributes))
        if attrs.get("method", "get").lower() != "post":
            continue
        fields = [dict(ATTRIBUTE.findall(f), tag=tag) for tag, f in FIELD.findall(inner)]
        yield attrs.get("action") or page, fields


def _form_values(fields: list[dict]) -> dict:
    values: dict = {}
    for f in fields:
        name, kind = f.get("name"), f.get("type", f["tag"])
        if not name or kind in ("checkbox", "radio", "file", "submit"):
            continue
        values[name] = f.get("value") or {"datetime-local": "2026-11-20T09:00",
                                          "date": "2026-11-20", "number": "1"}.get(kind, "文字")
    return values


def _bad_form_values(field: dict) -> list[str]:
    kind = field.get("type", field["tag"])
    if kind in ("hidden", "checkbox", "radio", "file", "submit", "password"):
        return []
    if kind in BAD_LOCAL_TIMES:
        return list(BAD_LOCAL_TIMES[kind])
    return [NUL, ESCAPE] + ([BIDI_NAME] if field.get("name") in NAME_FIELDS else [])


def _form_refused(app, browser, response, name: str) -> bool:
    if refused(response):
        return name in response.get_data(as_text=True) or \
            str(_label(app, name)) in response.get_data(as_text=True)
    if response.status_code != 302:
        return False
    with browser.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any(category == "error" and (name in message or _label(app, name) in message)
               for category, message in flashes)


def _label(app, name: str) -> str:
    with app.test_request_context():
        return str(field_label(name))


def _browser(app, role: str | None):
    browser = app.test_client()
    if role is not None:
        assert login(browser, f"t_{role}").status_code == 302
    return browser


def _post_bad_values(app, browser, role, page, problems: list, *, only: str | None = None):
    """Post every bad value into every field of every form on ``page``; the endpoints."""
    posted, tried = set(), 0
    html = browser.get(page).get_data(as_text=True)
    for action, fields in list(_forms(html, page)):
        action = action.replace("&amp;", "&")
        endpoint = app.url_map.bind("localhost").match(action.split("?")[0], method="POST")[0]
        if only and endpoint != only:
            continue
        posted.add(endpoint)
        valid = _form_values(fields)
        for field in fields:
            for bad in _bad_form_values(field):
                html = browser.get(page).get_data(as_text=True)  # a fresh CSRF token
                token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
                data = {**valid, field["name"]: bad}
                if token:
                    data["csrf_token"] = token.group(1)
                response = browser.post(action, data=data)
                tried += 1
                if response.status_code >= 500 or not _form_refused(
                        app, browser, response, field["name"]):
                    problems.append((role, action, field["name"], repr(bad),
                                     response.status_code))
    return posted, tried


def test_every_form_field_refuses_bad_text_dates_and_names(app, ctx, every_form_on_show,
                                                           monkeypatch):
    # a sign-in per page, all from one address within the minute: not what is tested here
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_RATE_LIMIT", "1000 per minute")
    world = every_form_on_show
    problems, posted, tried = [], set(), 0
    for role, page in _pages(world):
        seen, count = _post_bad_values(app, _browser(app, role), role, page, problems)
        posted, tried = posted | seen, tried + count
    every_post = {rule.endpoint for rule in app.url_map.iter_rules()
                  if "POST" in rule.methods and not rule.rule.startswith(("/api/", "/twilio/"))}
    assert every_post - posted - TOKEN_ONLY - TWO_FACTOR_FORMS == set()
    assert tried > 50
    assert problems == []


def test_the_two_factor_forms_refuse_bad_text(app, ctx, world):
    """The code asked for at sign-in, and the form that turns two-factor sign-in off."""
    supervisor = _browser(app, "supervisor")  # signed in before two-factor sign-in is on
    with ctx() as db:
        user = db.get(User, world.users["supervisor"].id)
        user.totp_secret, user.totp_enabled_at = pyotp.random_base32(), utcnow()
        db.commit()
    half_signed_in = app.test_client()
    assert login(half_signed_in, "t_supervisor").headers["Location"] == "/login/code"
    problems, posted = [], set()
    for browser, page in ((half_signed_in, "/login/code"), (supervisor, "/account")):
        seen, _count = _post_bad_values(app, browser, "supervisor", page, problems)
        posted |= seen
    assert posted >= TWO_FACTOR_FORMS
    assert problems == []


def test_every_workflow_step_form_refuses_bad_text_dates_and_names(app, ctx, every_form_on_show):
    """Each state's step forms on the case page (a liaison's too), drawn from the schemas."""
    case_id = every_form_on_show.records["team_case"].id
    browsers = {role: _browser(app, role) for role in ("counselor", "supervisor", "liaison")}
    problems, tried, events = [], 0, set()
    for state in STATES:
        _in_state(ctx, case_id, state)
        for role, browser in browsers.items():
            html = browser.get(f"/cases/{case_id}").get_data(as_text=True)
            events |= set(re.findall(rf"/cases/{case_id}/events/(\w+)", html))
            _, count = _post_bad_values(app, browser, role, f"/cases/{case_id}", problems,
                                        only="casework.case_event")
            tried += count
    assert events == set(HANDLERS)
    assert tried > 40
    assert problems == []


# -- dates outside 1900-2100 and names in services reached without a schema -------------------

@pytest.mark.parametrize("name", ["a\x00b", "张\u202e三", "李\u2066四", "王\x1b五", SURROGATE])
def test_a_user_with_a_control_or_direction_character_in_a_name_is_not_created(ctx, world, name):
    from crisisline.accounts import services
    from crisisline.accounts.models import User
    from crisisline.errors import InvalidInput
    with ctx() as db:
        with pytest.raises(InvalidInput) as refusal:
            services.create_user("t_newcomer", "volunteer", "a-long-enough-password-1",
                                 display_name=name)
        db.rollback()
        assert "display_name" in refusal.value.fields
        assert db.scalar(select(User).where(User.username == "t_newcomer")) is None


def test_refusals_are_chinese_by_default_and_english_on_request(client, api, world):
    case_id = world.records["team_case"].id
    path = f"/api/cases/{case_id}/notes"
    chinese = client.post(path, json={"body": NUL}, headers=api("counselor").headers)
    english = client.post(path + "?lang=en", json={"body": NUL}, headers=api("counselor").headers)
    assert chinese.status_code == english.status_code == 422
    assert chinese.json["fields"]["body"] != english.json["fields"]["body"]
    assert re.search(r"[\u4e00-\u9fff]", chinese.json["fields"]["body"])
    assert "control character" in english.json["fields"]["body"]
