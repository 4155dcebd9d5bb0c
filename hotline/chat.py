"""The anonymous student web chat: a page, and a Socket.IO namespace for the conversation.

The first message is an ordinary form post (it works without JavaScript and puts the
conversation's id in the student's signed session cookie); later messages and the
hotline's replies travel over ``/chat``, whose connection joins only the room of the
conversation named in that cookie. The transcript is kept with the contact.
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_socketio import join_room
from limits import parse

from crisisline.accounts.models import Organisation
from crisisline.database import db
from crisisline.errors import DomainError, InvalidInput
from crisisline.extensions import limiter, socketio
from crisisline.messages import refusal
from crisisline.rate_limits import hit
from crisisline.validation import text_problem
from crisisline.pages import save
from hotline import intake
from hotline.models import Contact, Channel
from hotline.services import CHAT_NAMESPACE as NAMESPACE, chat_room

MESSAGE_RATE = parse("20 per minute")  # per conversation: a person types slower than this
blueprint = Blueprint("chat", __name__, template_folder="templates")


def _my_conversation() -> Contact | None:
    contact_id = session.get("chat_contact_id")
    contact = db.get(Contact, contact_id) if contact_id else None
    if contact is None or contact.channel != Channel.WEB_CHAT:
        return None
    return contact


@blueprint.route("/chat")
def chat_page():
    contact = _my_conversation()
    return render_template("hotline/chat.html", contact=contact,
                           ended=contact is not None and contact.status not in intake.OPEN)


@blueprint.route("/chat", methods=["POST"])
@limiter.limit("10 per minute")
def start_chat():
    """Open a conversation with its first message (a new one if the last has ended)."""
    centre = Organisation.by_code(request.args.get("centre", "")) if request.args.get(
        "centre") else None
    language = "en" if str(request.form.get("language", "")).startswith("en") else "zh"
    contact = save(lambda: intake.start_chat(centre.id if centre else None,
                                             request.form.get("body", ""), language))
    if contact is None:  # refused: the page again, with what the student wrote
        return render_template("hotline/chat.html", contact=None, ended=False), 422
    session["chat_contact_id"] = contact.id
    return redirect(url_for("chat.chat_page"))


@socketio.on("connect", namespace=NAMESPACE)
def _connect(_auth=None):
    contact = _my_conversation()
    db.commit()
    if contact is None:
        return False  # no conversation of this browser's to join
    join_room(chat_room(contact.id))
    return True


@socketio.on("message", namespace=NAMESPACE)
def _message(data=None):
    """A student's message; the answer (the acknowledgement) says whether it was kept."""
    contact_id = session.get("chat_contact_id")
    body = data.get("body", "") if isinstance(data, dict) else None
    if not hit(MESSAGE_RATE, "chat", str(contact_id)):  # counted here if Redis fails
        return refusal(_l("You are sending messages very fast. Please wait a moment; a "
                          "volunteer will read everything you wrote."))
    # a socket event has no request for check_request to look at: its one field is checked here
    problem = text_problem(body) if isinstance(body, str) else _l("a message must be text")
    if problem is not None:
        return refusal(problem, field="body")
    try:
        message = intake.receive_chat(contact_id, body)
    except DomainError as error:
        db.rollback()
        return refusal(error.fields["body"] if isinstance(error, InvalidInput)
                       else error.message)
    db.commit()
    return {"ok": True, "id": message.id, "at": message.created_at.isoformat()}

