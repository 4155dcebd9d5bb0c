"""The hotline's background work: routing, offer expiry, escalation, and Twilio calls."""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app
from sqlalchemy import select
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from crisisline.accounts.models import Organisation, OrgKind
from crisisline.database import db
from crisisline.twilio_rest import rest_client
from hotline import escalation, routing

log = logging.getLogger(__name__)


@shared_task
def keep_the_queue_moving() -> dict:
    """Every few seconds: expire stale offers, escalate, and offer what is waiting."""
    expired = routing.expire_offers()
    rolled = escalation.roll_over_waiting_calls()
    alerted = escalation.alert_unanswered_risky_texts()
    offered = sum(routing.route(centre_id) for centre_id in db.scalars(
        select(Organisation.id).where(Organisation.kind == OrgKind.HOTLINE_CENTRE)))
    db.commit()
    return {"expired": expired, "rolled_over": rolled, "alerted": alerted, "offered": offered}


@shared_task
def redirect_to_backup_line(call_sid: str) -> str:
    """Send a waiting call on to the backup line (a provincial line or 12356)."""
    client = rest_client()
    if client is None:
        log.error("cannot roll call %s over: Twilio is not configured", call_sid)
        return "not_configured"
    response = VoiceResponse()
    response.say("正在为您转接备用热线，请稍候。", language="zh-CN")
    response.dial(current_app.config["BACKUP_LINE"])
    try:
        client.calls(call_sid).update(twiml=str(response))
    except TwilioException:
        log.exception("rolling call %s over failed", call_sid)
        return "failed"
    return "redirected"


@shared_task
def route_centre(centre_id: int) -> int:
    """Offer a centre's waiting contacts now (sent after a contact joins the queue)."""
    offered = routing.route(centre_id)
    db.commit()
    return offered
