import marshmallow as ma


class BreakGlassRequest(ma.Schema):
    object_type = ma.fields.String(required=True)
    object_id = ma.fields.Integer(required=True, strict=True)
    reason = ma.fields.String(required=True)


class BreakGlassGrantOut(ma.Schema):
    id = ma.fields.Integer()
    user = ma.fields.Function(lambda grant: grant.user.username)
    object_type = ma.fields.String()
    object_id = ma.fields.Integer()
    reason = ma.fields.String()
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    reviewed_by = ma.fields.Function(
        lambda grant: grant.reviewed_by.username if grant.reviewed_by else None)
    review_outcome = ma.fields.String(allow_none=True)
    review_note = ma.fields.String(allow_none=True)
    allowed_again_by = ma.fields.Function(
        lambda grant: grant.allowed_again_by.username if grant.allowed_again_by else None)
    allowed_again_at = ma.fields.DateTime(allow_none=True)


class ReviewRequest(ma.Schema):
    outcome = ma.fields.String(required=True)
    note = ma.fields.String(required=True)
