"""The volunteer's pages and the contact records API."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_smorest import Blueprint as ApiBlueprint

from casework.schemas import CaseOut
from crisisline.access.rules import EDIT, can, visible
from crisisline.access.services import open_record
from crisisline.accounts.models import Role
from crisisline.accounts.security import require_role
from crisisline.database import db
from crisisline.pages import form_id, save
from hotline import cssrs, feedback, routing, services
from hotline.wallboard import wallboard
from hotline.models import Contact
from hotline.schemas import (ContactOut, EscalateIn, FeedbackReviewIn, MessageOut, OfferOut,
                             PresenceOut, ReplyIn, ScreenIn, TriageFeedbackIn,
                             TriageFeedbackOut, WrapUpIn)

blueprint = Blueprint("hotline", __name__, template_folder="templates")
api_blueprint = ApiBlueprint("contacts", __name__, url_prefix="/api",
                             description="Hotline contacts")


@blueprint.route("/console/volunteer")
@require_role(Role.VOLUNTEER)
def volunteer_home():
    contacts = db.scalars(visible(current_user, Contact)
                          .order_by(Contact.created_at.desc()).limit(50)).all()
    duty = services.on_duty(current_user)
    db.commit()
    return render_template("hotline/volunteer_home.html", contacts=contacts,
                           callbacks=services.callback_list(current_user), **duty)


@blueprint.route("/console/supervisor/wallboard")
@require_role(Role.SUPERVISOR)
def wallboard_part():
    """The wallboard alone, refreshed live as the queue, staff and cases change."""
    return render_template("hotline/_wallboard.html", board=wallboard(current_user))


@blueprint.route("/callbacks/<int:contact_id>", methods=["POST"])
@require_role(Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR)
def record_callback(contact_id: int):
    services.record_callback(current_user, contact_id, reached="reached" in request.form,
                             note=request.form.get("note", ""))
    db.commit()
    flash(_("Callback recorded."), "success")
    return redirect(url_for("accounts.home"))


@blueprint.route("/console/presence/<event>", methods=["POST"])
@require_role(Role.VOLUNTEER, Role.COUNSELOR)
def change_presence(event: str):
    routing.change_presence(current_user, event)
    db.commit()
    return redirect(url_for("accounts.home"))


@blueprint.route("/console/offers/<int:offer_id>/<answer>", methods=["POST"])
@require_role(Role.VOLUNTEER, Role.COUNSELOR)
def answer_offer(offer_id: int, answer: str):
    if answer == "accept":
        contact = routing.accept(current_user, offer_id)
        db.commit()
        return redirect(url_for("hotline.contact_page", record_id=contact.id))
    routing.decline(current_user, offer_id)
    db.commit()
    return redirect(url_for("accounts.home"))


@api_blueprint.route("/contacts/<int:contact_id>/screen", methods=["POST"])
@api_blueprint.arguments(ScreenIn)
@api_blueprint.response(200, ContactOut)
@login_required
def api_screen(data, contact_id: int):
    contact = services.screen(current_user, contact_id, data["answers"])
    db.commit()
    return contact


@api_blueprint.route("/contacts/<int:contact_id>/escalate", methods=["POST"])
@api_blueprint.arguments(EscalateIn)
@api_blueprint.response(201, CaseOut)
@login_required
def api_escalate(data, contact_id: int):
    case = services.escalate(current_user, contact_id, data["summary"],
                             student_id=data["student_id"])
    db.commit()
    return case


@blueprint.route("/contacts/<int:record_id>/screen", methods=["POST"])
@login_required
def screen(record_id: int):
    answers = {question: request.form[question] == "yes" for question in (
        *cssrs.QUESTIONS, "behaviour_recent") if request.form.get(question) in ("yes", "no")}
    if save(lambda: services.screen(current_user, record_id, answers),
            _l("Screen saved.")) is None:
        return _refused(record_id)
    return redirect(url_for("hotline.contact_page", record_id=record_id))


@blueprint.route("/contacts/<int:record_id>/escalate", methods=["POST"])
@login_required
def escalate(record_id: int):
    if save(lambda: services.escalate(current_user, record_id, request.form.get("summary", ""),
                                      student_id=form_id(request.form.get("student_id"))),
            _l("A crisis case was opened for the on-duty counselors.")) is None:
        return _refused(record_id)
    return redirect(url_for("hotline.contact_page", record_id=record_id))


@blueprint.route("/contacts/<int:record_id>/reply", methods=["POST"])
@login_required
def reply(record_id: int):
    if save(lambda: services.reply(current_user, record_id, request.form.get("body", "")),
            _l("Reply sent.")) is None:
        return _refused(record_id)
    return redirect(url_for("hotline.contact_page", record_id=record_id) + "#transcript")


@blueprint.route("/contacts/<int:record_id>/transfer", methods=["POST"])
@login_required
def transfer(record_id: int):
    contact = save(lambda: services.transfer(current_user, record_id),
                   _l("An on-duty counselor is being connected. Introduce them, then hang up."))
    if contact is None:
        return _refused(record_id)
    return redirect(url_for("accounts.home"))


@blueprint.route("/contacts/<int:record_id>/wrap-up", methods=["POST"])
@login_required
def wrap_up(record_id: int):
    contact = save(lambda: services.wrap_up(
        current_user, record_id, categories=request.form.getlist("categories"),
        summary=request.form.get("summary", ""), code=request.form.get("wrap_up_code", "")),
        _l("Contact wrapped up. You are ready for the next one."))
    if contact is None:
        return _refused(record_id)
    return redirect(url_for("accounts.home"))


@blueprint.route("/contacts/<int:record_id>/transcript")
@login_required
def transcript(record_id: int):
    """The conversation alone, for the console to refresh when a message arrives."""
    contact = open_record(current_user, "contact", record_id)
    db.commit()
    return render_template("hotline/_transcript.html", contact=contact)


@api_blueprint.route("/contacts/<int:contact_id>/messages")
@api_blueprint.response(200, MessageOut(many=True))
@login_required
def api_messages(contact_id: int):
    contact = open_record(current_user, "contact", contact_id)
    db.commit()
    return contact.messages


@api_blueprint.route("/contacts/<int:contact_id>/messages", methods=["POST"])
@api_blueprint.arguments(ReplyIn)
@api_blueprint.response(201, MessageOut)
@login_required
def api_reply(data, contact_id: int):
    message = services.reply(current_user, contact_id, data["body"])
    db.commit()
    return message


@api_blueprint.route("/contacts/<int:contact_id>/transfer", methods=["POST"])
@api_blueprint.response(200, ContactOut)
@login_required
def api_transfer(contact_id: int):
    contact = services.transfer(current_user, contact_id)
    db.commit()
    return contact


@api_blueprint.route("/contacts/<int:contact_id>/wrap-up", methods=["POST"])
@api_blueprint.arguments(WrapUpIn)
@api_blueprint.response(200, ContactOut)
@login_required
def api_wrap_up(data, contact_id: int):
    contact = services.wrap_up(current_user, contact_id, categories=data["categories"],
                               summary=data["summary"], code=data["wrap_up_code"])
    db.commit()
    return contact


@api_blueprint.route("/presence/<event>", methods=["POST"])
@api_blueprint.response(200, PresenceOut)
@login_required
def api_change_presence(event: str):
    presence = routing.change_presence(current_user, event)
    db.commit()
    return presence


@api_blueprint.route("/offers/mine")
@api_blueprint.response(200, OfferOut(many=True))
@login_required
def api_my_offer():
    offer = routing.my_offer(current_user)
    return [offer] if offer else []


@api_blueprint.route("/offers/<int:offer_id>/accept", methods=["POST"])
@api_blueprint.response(200, ContactOut)
@login_required
def api_accept_offer(offer_id: int):
    contact = routing.accept(current_user, offer_id)
    db.commit()
    return contact


def _refused(record_id: int):
    """A refused form: the contact page again, saying why and keeping what was typed."""
    return contact_page(record_id), 422


@blueprint.route("/contacts/<int:record_id>")
@login_required
def contact_page(record_id: int):
    contact = open_record(current_user, "contact", record_id)
    db.commit()
    return render_template("hotline/contact.html", contact=contact,
                           record=ContactOut().dump(contact), questions=cssrs.QUESTIONS,
                           risk_words=services.risk_words(contact),
                           second_opinions=services.second_opinions(contact),
                           marked=feedback.marked_by(current_user, contact.id),
                           may_act=can(current_user, EDIT, contact),
                           categories=services.CATEGORIES, wrap_up_codes=services.WRAP_UP_CODES)


@api_blueprint.route("/contacts/<int:contact_id>")
@api_blueprint.response(200, ContactOut)
@login_required
def api_contact(contact_id: int):
    contact = open_record(current_user, "contact", contact_id)
    db.commit()
    return contact


# -- triage feedback ------------------------------------------------------------------------

@api_blueprint.route("/contact-messages/<int:message_id>/triage-feedback", methods=["POST"])
@api_blueprint.arguments(TriageFeedbackIn)
@api_blueprint.response(201, TriageFeedbackOut)
@login_required
def mark_triage(data, message_id: int):
    """Say that triage judged an inbound message wrongly, with the level you judged."""
    marked = feedback.mark_triage(current_user, message_id, **data)
    db.commit()
    return marked


@api_blueprint.route("/triage-feedback")
@api_blueprint.response(200, TriageFeedbackOut(many=True))
@login_required
def feedback_queue():
    """The feedback waiting for review (a supervisor's centre), oldest first."""
    return feedback.review_queue(current_user)


@api_blueprint.route("/triage-feedback/<int:feedback_id>/review", methods=["POST"])
@api_blueprint.arguments(FeedbackReviewIn)
@api_blueprint.response(200, TriageFeedbackOut)
@login_required
def review_feedback(data, feedback_id: int):
    reviewed = feedback.review(current_user, feedback_id, **data)
    db.commit()
    return reviewed


@blueprint.route("/contact-messages/<int:message_id>/triage-feedback", methods=["POST"])
@login_required
def mark_triage_page(message_id: int):
    form = request.form
    contact_id = form_id(form.get("contact_id"))
    marked = save(lambda: feedback.mark_triage(current_user, message_id,
                                               level=form.get("level", ""),
                                               note=form.get("note", "")),
                  _l("Thank you: a supervisor will review it."))
    if marked is None and contact_id is not None:
        return contact_page(contact_id), 422  # refused: the page again, as typed
    if marked is None:
        return redirect(url_for("accounts.home"))
    return redirect(url_for("hotline.contact_page", record_id=marked.message.contact_id)
                    + "#triage")


@blueprint.route("/triage/feedback")
@require_role(Role.SUPERVISOR)
def feedback_page():
    return render_template("hotline/triage_feedback.html",
                           queue=feedback.review_queue(current_user),
                           de_identified=feedback.de_identified)


@blueprint.route("/triage/feedback/<int:feedback_id>", methods=["POST"])
@require_role(Role.SUPERVISOR)
def review_feedback_page(feedback_id: int):
    form = request.form
    accept = form.get("accept") == "yes"
    done = save(lambda: feedback.review(current_user, feedback_id, accept=accept,
                                        example_text=form.get("example_text", ""),
                                        names_removed=form.get("names_removed") == "yes"),
                _l("Accepted as a labelled example.") if accept else _l("Rejected."))
    if done is None:
        return feedback_page(), 422
    return redirect(url_for("hotline.feedback_page"))
