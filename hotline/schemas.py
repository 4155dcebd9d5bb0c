import marshmallow as ma
from flask_login import current_user

from hotline.services import CATEGORIES, WRAP_UP_CODES, shown_caller_number


class ContactOut(ma.Schema):
    """The contact record; a volunteer sees the caller's number only while it is theirs."""
    id = ma.fields.Integer()
    channel = ma.fields.Function(lambda contact: contact.channel.value)
    status = ma.fields.Function(lambda contact: contact.status.value)
    priority = ma.fields.Integer()
    caller_number = ma.fields.Function(lambda contact: shown_caller_number(current_user, contact))
    answered_by_id = ma.fields.Integer(allow_none=True)
    handled_by_id = ma.fields.Integer(allow_none=True)
    case_id = ma.fields.Integer(allow_none=True)
    risk_level = ma.fields.Function(lambda contact: contact.risk_level.value)
    screening = ma.fields.Dict(allow_none=True)
    screened_risk = ma.fields.Function(
        lambda contact: contact.screened_risk.value if contact.screened_risk else None)
    categories = ma.fields.List(ma.fields.String())
    # why triage judged each inbound text or chat message as it did: the lexicon's words
    # with their weights, the model's probability and the labelled examples nearest it
    triage = ma.fields.Function(lambda contact: [
        {"message_id": message.id, **message.triage} for message in contact.messages
        if message.inbound and message.triage])
    summary = ma.fields.String()
    wrap_up_code = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    queued_at = ma.fields.DateTime(allow_none=True)
    offered_at = ma.fields.DateTime(allow_none=True)
    answered_at = ma.fields.DateTime(allow_none=True)
    transferred_at = ma.fields.DateTime(allow_none=True)
    ended_at = ma.fields.DateTime(allow_none=True)
    wrapped_up_at = ma.fields.DateTime(allow_none=True)


class MessageOut(ma.Schema):
    id = ma.fields.Integer()
    inbound = ma.fields.Boolean()
    body = ma.fields.String()
    sent_by_id = ma.fields.Integer(allow_none=True)
    delivery = ma.fields.String(allow_none=True)
    triage = ma.fields.Dict(allow_none=True)
    created_at = ma.fields.DateTime()


class ReplyIn(ma.Schema):
    body = ma.fields.String(required=True)


class WrapUpIn(ma.Schema):
    categories = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(CATEGORIES)),
                                required=True)
    summary = ma.fields.String(required=True)
    wrap_up_code = ma.fields.String(required=True, validate=ma.validate.OneOf(WRAP_UP_CODES))


class PresenceOut(ma.Schema):
    state = ma.fields.String()
    since = ma.fields.DateTime()
    languages = ma.fields.String()


class OfferOut(ma.Schema):
    id = ma.fields.Integer()
    contact_id = ma.fields.Integer()
    offered_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()


class ScreenIn(ma.Schema):
    answers = ma.fields.Dict(required=True)


class EscalateIn(ma.Schema):
    summary = ma.fields.String(load_default="")
    # the student found by search (GET /api/students/pick?contact=…); none: not identified
    student_id = ma.fields.Integer(load_default=None, strict=True)


class TriageFeedbackIn(ma.Schema):
    level = ma.fields.String(required=True, metadata={
        "description": "the level you judged: none, low, moderate, high or imminent"})
    note = ma.fields.String(load_default="")


class TriageFeedbackOut(ma.Schema):
    id = ma.fields.Integer()
    message_id = ma.fields.Integer()
    contact_id = ma.fields.Function(lambda feedback: feedback.message.contact_id)
    triage_level = ma.fields.Function(lambda feedback: feedback.triage_level.value)
    judged_level = ma.fields.Function(lambda feedback: feedback.judged_level.value)
    too_high = ma.fields.Boolean()
    note = ma.fields.String()
    given_by = ma.fields.Function(lambda feedback: feedback.given_by.display_name)
    status = ma.fields.Function(lambda feedback: feedback.status.value)
    example_text = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class FeedbackReviewIn(ma.Schema):
    accept = ma.fields.Boolean(required=True)
    example_text = ma.fields.String(load_default="", metadata={
        "description": "accept: the message as it may leave the centre (no names, numbers, "
                       "places)"})
    names_removed = ma.fields.Boolean(load_default=False, metadata={
        "description": "accept: you confirm no name, school or place is left in the text"})
