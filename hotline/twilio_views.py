"""Twilio's webhooks: voice and SMS into the queue.

Every request must carry a valid ``X-Twilio-Signature`` for ``CRISISLINE_PUBLIC_URL`` plus
its path; anything else is answered 403 before it can change anything. Answers are TwiML,
built with the ``twilio`` library, and fast: no REST call is made while Twilio waits.
"""
from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, Response, abort, current_app, request, url_for
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from crisisline.accounts.security import exempt_blueprint
from crisisline.database import db
from hotline import intake
from hotline.models import Channel, Contact, ContactStatus, Priority

log = logging.getLogger(__name__)
blueprint = Blueprint("twilio", __name__, url_prefix="/twilio")
exempt_blueprint("twilio")  # signed by Twilio instead of a CSRF token

QUEUE = "crisisline"
ZH, EN = "zh-CN", "en-US"
GREETING = ("您好，这里是学生心理危机干预热线。"
            "您说的一切都会被严格保密，只有在涉及生命安全时才会例外。"
            "如果您或其他人现在有生命危险，请按1。For English, press 2. "
            "其他情况请稍候，我们马上为您接通。")
NO_INPUT = "正在为您接通，请稍候。"
HOLD = {"zh": ("请不要挂断，志愿者马上接听。您前面还有{ahead}位来电者。"
               "如果您现在有生命危险，请立即拨打120或110。"),
        "en": ("Please stay on the line, a volunteer will answer soon. There are {ahead} "
               "callers ahead of you. If your life is in danger now, call 120 or 110.")}
TEXT_RECEIVED = ("【学生心理危机热线】我们已收到您的信息，志愿者会尽快回复您。"
                 "如果您现在有生命危险，请立即拨打120或110。")


def twilio_signed(view):
    """Refuse (403, nothing changed) a request Twilio did not sign."""
    @wraps(view)
    def checked(*args, **kwargs):
        token = current_app.config["TWILIO_AUTH_TOKEN"]
        if not token:
            log.error("Twilio webhook refused: TWILIO_AUTH_TOKEN is not configured")
            abort(403)
        url = current_app.config["PUBLIC_URL"] + request.full_path.rstrip("?")
        algorithm = get_signature_algorithm(
            request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(token).validate(url, request.form, signature, algorithm):
            log.warning("Twilio webhook refused: bad signature for %s", request.path)
            abort(403)
        return view(*args, **kwargs)
    return checked


def twiml(response) -> Response:
    return Response(str(response), mimetype="text/xml")


@blueprint.route("/voice/incoming", methods=["POST"])
@twilio_signed
def voice_incoming():
    intake.receive_call(request.form["CallSid"], request.form.get("From"),
                          request.form.get("To"))
    db.commit()
    menu = url_for("twilio.voice_menu")
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=menu, method="POST", timeout=6)
    gather.say(GREETING, language=ZH)
    response.append(gather)
    response.say(NO_INPUT, language=ZH)
    response.redirect(menu, method="POST")
    return twiml(response)


@blueprint.route("/voice/menu", methods=["POST"])
@twilio_signed
def voice_menu():
    contact = intake.choose_from_menu(request.form["CallSid"], request.form.get("Digits"))
    db.commit()
    response = VoiceResponse()
    if contact.priority == Priority.IMMINENT:
        response.say("我们马上为您接通，请不要挂断。", language=ZH)
    response.enqueue(QUEUE, wait_url=url_for("twilio.voice_wait"), wait_url_method="POST")
    return twiml(response)


@blueprint.route("/voice/wait", methods=["POST"])
@twilio_signed
def voice_wait():
    contact = intake.call(request.form["CallSid"])
    ahead = intake.position(contact) - 1
    response = VoiceResponse()
    language = contact.language if contact.language in HOLD else "zh"
    response.say(HOLD[language].format(ahead=ahead), language=EN if language == "en" else ZH)
    response.pause(length=15)
    return twiml(response)


@blueprint.route("/voice/conference/<int:contact_id>/<any(caller, staff):leg>", methods=["POST"])
@twilio_signed
def voice_conference(contact_id: int, leg: str):
    """Join one leg of an answered call to its conference: the caller (moved out of the
    queue) waits with music until staff join; the call ends when the caller leaves, not when
    a volunteer hands over to a counselor (a warm transfer)."""
    contact = db.get(Contact, contact_id)
    response = VoiceResponse()
    if contact is None or contact.channel != Channel.VOICE \
            or contact.status != ContactStatus.ACTIVE:
        response.say("这通电话已经结束。", language=ZH)
        response.hangup()
        return twiml(response)
    if leg == "staff":
        response.say("热线来电已接通，请开始通话。", language=ZH)
    dial = Dial()
    dial.conference(f"crisisline-contact-{contact.id}", beep=False,
                    start_conference_on_enter=leg == "staff",
                    end_conference_on_exit=leg == "caller")
    response.append(dial)
    return twiml(response)


@blueprint.route("/voice/status", methods=["POST"])
@twilio_signed
def voice_status():
    intake.call_status(request.form["CallSid"], request.form.get("CallStatus", ""))
    db.commit()
    return Response(status=204)


@blueprint.route("/sms/incoming", methods=["POST"])
@twilio_signed
def sms_incoming():
    contact, started = intake.receive_text(request.form["MessageSid"], request.form["From"],
                                             request.form.get("To"),
                                             request.form.get("Body", ""))
    db.commit()
    response = MessagingResponse()
    if started:
        response.message(TEXT_RECEIVED)
    return twiml(response)
