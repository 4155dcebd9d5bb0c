"""Twilio's webhooks: voice and SMS into the queue.

Every request must carry a valid ``X-Twilio-Signature`` for ``CRISISLINE_PUBLIC_URL`` plus
its path and the configured ``TWILIO_ACCOUNT_SID``; anything else is answered 403 before it
can change anything. Answers are TwiML, built with the ``twilio`` library, and fast: no REST
call is made while Twilio waits.

Every parameter is bounded (:func:`webhook_params`). A 4xx makes Twilio drop what it was
delivering (a text is lost; a caller hears an error), so what Twilio itself could send is
kept: a text longer than Twilio's 1,600 characters is cut to them, and control characters
are taken out of it. What only a forger can send (a body over 64 KB, a 500-character
MessageSid, a phone number longer than E.164 allows, an unknown call status) is refused.
"""
from __future__ import annotations

import logging
import re
from functools import wraps

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from crisisline.accounts.security import exempt_blueprint
from crisisline import validation
from crisisline.database import db
from crisisline.errors import DomainError
from crisisline.messages import SentName
from hotline import intake
from hotline.models import Channel, Contact, ContactStatus, Priority

log = logging.getLogger(__name__)
blueprint = Blueprint("twilio", __name__, url_prefix="/twilio")
exempt_blueprint("twilio")  # signed by Twilio instead of a CSRF token
validation.exempt_blueprint("twilio")  # bounded by webhook_params: a text is never lost

MAX_REQUEST_BYTES = 64 * 1024  # Twilio's largest (1,600 Chinese characters) is ~20 KB
MAX_BODY = 1600  # characters: the longest message Twilio delivers
MAX_OTHER = 512  # characters of any parameter not named below (MediaUrl0 is ~150)
SID = {"CallSid": ("CA",), "MessageSid": ("SM", "MM"), "SmsSid": ("SM", "MM"),
       "SmsMessageSid": ("SM", "MM"), "AccountSid": ("AC",)}
# the documented form is the prefix and 32 hexadecimal digits; recorded and simulated
# traffic uses shorter readable ids, so the bound is the length and the alphabet
SID_TAIL = re.compile(r"[0-9A-Za-z_-]{1,32}")
PHONE_FIELDS = ("From", "To", "Caller", "Called")
# E.164 is at most 15 digits after '+'; withheld numbers and alphanumeric senders are shorter
PHONE = re.compile(r"\+?[0-9A-Za-z]{1,15}")
DIGITS = re.compile(r"[0-9*#A-Za-z]{0,32}")
CALL_STATUSES = {"queued", "initiated", "ringing", "in-progress", "answered", "completed",
                 "busy", "failed", "no-answer", "canceled"}

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


class BadWebhook(DomainError):
    status = 400


@blueprint.before_request
def _bounded_size():
    # per blueprint: uploads elsewhere are larger; a bigger body is answered 413 unread
    request.max_content_length = MAX_REQUEST_BYTES


def twilio_signed(view):
    """Refuse (403, nothing changed) a request Twilio did not sign for our account, and
    (400) one whose parameters no Twilio request has; pass the view the bounded ones."""
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
        account = current_app.config["TWILIO_ACCOUNT_SID"]
        if account and request.form.get("AccountSid") != account:
            log.warning("Twilio webhook refused: AccountSid %.40r is not ours",
                        request.form.get("AccountSid"))
            abort(403)
        return view(webhook_params(request.form), *args, **kwargs)
    return checked


def webhook_params(form) -> dict[str, str]:
    """Twilio's parameters, each within what Twilio sends (see the module's docstring).

    Raises BadWebhook (400) naming each parameter that only a forged request could hold.
    """
    params, problems = {}, {}
    for name, value in form.items(multi=True):
        if name == "Body":
            if len(value) > MAX_BODY:
                log.warning("Twilio text of %d characters cut to %d", len(value), MAX_BODY)
            params[name] = validation.CONTROL.sub("", value[:MAX_BODY])
            continue
        if name in SID:
            good = value[:2] in SID[name] and SID_TAIL.fullmatch(value[2:])
        elif name in PHONE_FIELDS:
            good = value == "" or PHONE.fullmatch(value)
        elif name == "Digits":
            good = DIGITS.fullmatch(value)
        elif name == "CallStatus":
            good = value in CALL_STATUSES
        else:
            good = len(value) <= MAX_OTHER and not validation.CONTROL.search(value)
        if good:
            params[name] = value
        else:
            problems[SentName(name)] = _l("is not a value Twilio sends")
    if problems:
        raise BadWebhook(_l("a parameter is not a value Twilio sends"), fields=problems)
    return params


def _required(params: dict, name: str) -> str:
    if not params.get(name):
        raise BadWebhook(_l("a parameter is not a value Twilio sends"),
                         fields={SentName(name): _l("is missing")})
    return params[name]


def twiml(response) -> Response:
    return Response(str(response), mimetype="text/xml")


@blueprint.route("/voice/incoming", methods=["POST"])
@twilio_signed
def voice_incoming(params):
    intake.receive_call(_required(params, "CallSid"), params.get("From"), params.get("To"))
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
def voice_menu(params):
    contact = intake.choose_from_menu(_required(params, "CallSid"), params.get("Digits"))
    db.commit()
    response = VoiceResponse()
    if contact.priority == Priority.IMMINENT:
        response.say("我们马上为您接通，请不要挂断。", language=ZH)
    response.enqueue(QUEUE, wait_url=url_for("twilio.voice_wait"), wait_url_method="POST")
    return twiml(response)


@blueprint.route("/voice/wait", methods=["POST"])
@twilio_signed
def voice_wait(params):
    contact = intake.call(_required(params, "CallSid"))
    ahead = intake.position(contact) - 1
    response = VoiceResponse()
    language = contact.language if contact.language in HOLD else "zh"
    response.say(HOLD[language].format(ahead=ahead), language=EN if language == "en" else ZH)
    response.pause(length=15)
    return twiml(response)


@blueprint.route("/voice/conference/<int:contact_id>/<any(caller, staff):leg>", methods=["POST"])
@twilio_signed
def voice_conference(_params, contact_id: int, leg: str):
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
def voice_status(params):
    intake.call_status(_required(params, "CallSid"), params.get("CallStatus", ""))
    db.commit()
    return Response(status=204)


@blueprint.route("/sms/incoming", methods=["POST"])
@twilio_signed
def sms_incoming(params):
    contact, started = intake.receive_text(_required(params, "MessageSid"),
                                           _required(params, "From"), params.get("To"),
                                           params.get("Body", ""))
    db.commit()
    response = MessagingResponse()
    if started:
        response.message(TEXT_RECEIVED)
    return twiml(response)
