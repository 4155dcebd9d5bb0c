"""Two people acting on one case at once: exactly one wins, the other is told so."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from casework import services
from casework.models import Case, CaseHistory
from tests.conftest import app_context, needs_postgres
from tests.world import build_world

DISPATCH = {"risk_level": "high", "responder": "周老师", "emergency_services": []}


@needs_postgres
@pytest.mark.commits
def test_two_writers_with_the_same_version_exactly_one_wins(app):
    """Both read version 1 before either commits; the database refuses the second."""
    with app_context(app) as db:
        world = build_world(prefix=f"race{uuid.uuid4().hex[:6]}_")
        counselor, supervisor = world.users["counselor"], world.users["supervisor"]
        case = services.open_case(counselor, source="parent", risk_level="high")
        db.commit()
        case_id = case.id

    with app_context(app) as first:
        loaded = first.get(Case, case_id)  # the first writer has loaded version 1...
        with app_context(app) as second:  # ...when the second writer commits its change
            services.fire_event(second.merge(supervisor), case_id, "dispatch", DISPATCH, 1)
            second.commit()
        assert loaded.version == 1  # what the first writer still holds
        with pytest.raises(StaleDataError):
            services.fire_event(first.merge(counselor), case_id, "dispatch", DISPATCH, 1)
            first.commit()
        first.rollback()

    with app_context(app) as db:
        case = db.get(Case, case_id)
        dispatches = db.scalars(select(CaseHistory).where(CaseHistory.case_id == case_id,
                                                          CaseHistory.event == "dispatch"))
        assert (case.state, case.version, len(dispatches.all())) == ("on_site", 2, 1)


def test_a_lost_race_is_answered_409_with_nothing_changed(app, client, ctx, monkeypatch):
    from crisisline.accounts import services as accounts
    with ctx() as db:
        world = build_world()
        case = services.open_case(world.users["counselor"], source="parent", risk_level="high")
        token = accounts.issue_token("t_counselor")
        db.commit()

    def lose_the_race(*args, **kwargs):
        raise StaleDataError("UPDATE statement on table 'cases' expected to update 1 row(s)")
    monkeypatch.setattr("casework.api.services.fire_event", lose_the_race)
    response = client.post(f"/api/cases/{case.id}/events/dispatch",
                           json={"version": 1, "data": DISPATCH},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409 and "已被他人修改" in response.json["error"]
