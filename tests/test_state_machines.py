"""The declared state machines drive one object as often as needed, quietly."""
from __future__ import annotations

import logging

from casework import services
from hotline import routing
from hotline.models import Presence


def test_moving_one_object_many_times_in_a_transaction_logs_no_warning(ctx, world, caplog):
    caplog.set_level(logging.WARNING)
    with ctx() as db:
        volunteer = world.users["volunteer"]
        for event in ("sign_in", "take_break", "end_break", "sign_out", "sign_in"):
            routing.move(routing.presence_of(volunteer), event)
        assert db.get(Presence, volunteer.id).state == "available"
        counselor = db.merge(world.users["owner_counselor"])
        case = services.open_case(counselor, source="parent", risk_level="high")
        db.flush()
        services.fire_event(counselor, case.id, "triage_support", {
            "risk_level": "moderate", "support_plan": "每周面谈",
            "plan_owner_id": counselor.id}, case.version)
        services.fire_event(counselor, case.id, "escalate", {
            "risk_level": "high", "responder": "值班员", "emergency_services": [],
            "reason": "再次来电"}, case.version)
        assert case.state == "on_site"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
