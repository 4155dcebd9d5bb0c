"""The C-SSRS screen of a contact, and escalating a high-risk contact into a crisis case."""
from __future__ import annotations

import pytest

from crisisline.errors import InvalidInput
from hotline import cssrs
from hotline.models import Channel, Contact, ContactStatus
from tests.conftest import login
from tests.world import PASSWORD

NO = {"wish_dead": False, "thoughts": False, "behaviour": False}
THOUGHTS = {"wish_dead": True, "thoughts": True, "method": False, "intent": False,
            "plan": False, "behaviour": False}


@pytest.mark.parametrize("answers, level", [
    (NO, "none"),
    ({**NO, "wish_dead": True}, "low"),
    (THOUGHTS, "low"),
    ({**THOUGHTS, "method": True}, "moderate"),
    ({**NO, "behaviour": True, "behaviour_recent": False}, "moderate"),
    ({**THOUGHTS, "intent": True}, "high"),
    ({**THOUGHTS, "plan": True}, "high"),
    ({**NO, "behaviour": True, "behaviour_recent": True}, "high"),
])
def test_columbias_triage_gives_the_risk(answers, level):
    assert cssrs.risk(answers) == level


@pytest.mark.parametrize("answers, field", [
    ({**NO, "method": True}, "method"),  # asked although there are no suicidal thoughts
    ({**THOUGHTS, "intent": None}, "intent"),  # skipped although there are
    ({**NO, "behaviour": True}, "behaviour_recent"),
    ({"thoughts": False, "behaviour": False}, "wish_dead"),
])
def test_answers_that_break_the_skip_logic_are_refused_by_name(answers, field):
    with pytest.raises(InvalidInput) as refused:
        cssrs.risk(answers)
    assert field in refused.value.fields


@pytest.fixture
def active_contact(ctx, world):
    with ctx() as db:
        contact = Contact(centre_id=world.orgs["A"].id, channel=Channel.VOICE,
                          status=ContactStatus.ACTIVE, handled_by_id=world.users["volunteer"].id)
        db.add(contact)
        db.commit()
        return contact.id


def test_a_volunteer_screens_high_risk_and_escalates_to_the_on_duty_team(api, active_contact):
    volunteer = api("volunteer")
    screened = volunteer.post(f"/api/contacts/{active_contact}/screen",
                              {"answers": {**THOUGHTS, "plan": True}})
    assert screened.status_code == 200 and screened.json["risk_level"] == "high"
    case = volunteer.post(f"/api/contacts/{active_contact}/escalate", {"summary": "已有计划"})
    assert case.status_code == 201 and case.json["state"] == "reported"
    seen = api("counselor").get(f"/api/cases/{case.json['id']}")  # on the on-duty team
    assert seen.status_code == 200 and seen.json["risk_level"] == "high"
    assert api("volunteer").get(f"/api/contacts/{active_contact}").json["case_id"] == \
        case.json["id"]
    again = volunteer.post(f"/api/contacts/{active_contact}/escalate", {})
    assert again.status_code == 409


def test_a_contact_not_screened_high_cannot_be_escalated(api, active_contact):
    api("volunteer").post(f"/api/contacts/{active_contact}/screen", {"answers": THOUGHTS})
    response = api("volunteer").post(f"/api/contacts/{active_contact}/escalate", {})
    assert response.status_code == 422 and "risk_level" in response.json["fields"]


def test_only_the_volunteer_who_handled_the_contact_screens_it(api, active_contact):
    response = api("other_volunteer").post(f"/api/contacts/{active_contact}/screen",
                                           {"answers": NO})
    assert response.status_code == 403


def test_the_contact_page_asks_the_six_questions_in_chinese(client, active_contact):
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_contact}").get_data(as_text=True)
    assert "C-SSRS 风险筛查" in page and "是否真的有过自杀的想法" in page


def test_escalating_twice_from_the_page_says_so_and_opens_one_case(client, ctx, world,
                                                                    active_contact):
    import re

    from sqlalchemy import func, select

    from casework.models import Case
    login(client, "t_volunteer", PASSWORD)
    page = client.get(f"/contacts/{active_contact}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    answers = {**{k: "no" for k in THOUGHTS}, "wish_dead": "yes", "thoughts": "yes",
               "plan": "yes"}
    client.post(f"/contacts/{active_contact}/screen", data={"csrf_token": token, **answers})
    for _ in range(2):
        again = client.post(f"/contacts/{active_contact}/escalate", data={"csrf_token": token})
    assert again.status_code == 422  # the contact page again, saying why
    assert "已关联个案" in again.get_data(as_text=True)  # already linked to a case
    with ctx() as db:
        assert db.scalar(select(func.count(Case.id)).where(
            Case.reported_by_id == world.users["volunteer"].id)) == 1


def test_a_low_screen_keeps_the_imminent_risk_a_caller_reported_and_records_its_own(
        api, ctx, active_contact):
    from casework.models import RiskLevel
    with ctx() as db:
        db.get(Contact, active_contact).risk_level = RiskLevel.IMMINENT  # pressed 1
        db.commit()
    screened = api("volunteer").post(f"/api/contacts/{active_contact}/screen",
                                     {"answers": {**NO, "wish_dead": True}})
    assert screened.status_code == 200
    assert screened.json["risk_level"] == "imminent" and screened.json["screened_risk"] == "low"
