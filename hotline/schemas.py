import marshmallow as ma


class ContactOut(ma.Schema):
    id = ma.fields.Integer()
    channel = ma.fields.Function(lambda contact: contact.channel.value)
    caller_number = ma.fields.String(allow_none=True)
    handled_by_id = ma.fields.Integer(allow_none=True)
    case_id = ma.fields.Integer(allow_none=True)
    risk_level = ma.fields.Function(lambda contact: contact.risk_level.value)
    summary = ma.fields.String()
    created_at = ma.fields.DateTime()


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
