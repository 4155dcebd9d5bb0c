"""API access with ``Authorization: Bearer``: tokens are shown once and stored hashed."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from crisisline.accounts import services
from crisisline.accounts.models import ApiToken


@pytest.fixture
def token(ctx, world):
    with ctx() as db:
        token = services.issue_token("t_counselor")
        db.commit()
        return token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_reads_what_its_user_may_read(client, world, token):
    case_id = world.records["team_case"].id
    response = client.get(f"/api/cases/{case_id}", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["id"] == case_id and response.json["state"] == "reported"


def test_a_token_does_not_widen_its_users_scope(client, world, token):
    response = client.get(f"/api/cases/{world.records['case_b'].id}", headers=bearer(token))
    assert response.status_code == 403


def test_only_the_tokens_hash_is_stored(ctx, token):
    with ctx() as db:
        stored = db.scalars(select(ApiToken.token_hash)).all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


def test_a_wrong_token_is_refused(client, world):
    response = client.get(f"/api/cases/{world.records['team_case'].id}",
                          headers=bearer("cl_not-a-real-token"))
    assert response.status_code == 401


def test_disabling_a_user_revokes_their_tokens_at_once(client, ctx, world, token):
    with ctx() as db:
        services.disable_user("t_counselor")
        db.commit()
    response = client.get(f"/api/cases/{world.records['team_case'].id}", headers=bearer(token))
    assert response.status_code == 401


def test_api_writes_with_a_token_need_no_csrf_token(client, world, ctx):
    with ctx() as db:
        token = services.issue_token("t_owner_counselor")
        db.commit()
    response = client.post("/api/break-glass", headers=bearer(token), json={
        "object_type": "case", "object_id": world.records["team_case"].id,
        "reason": "caller named this student in a call tonight"})
    assert response.status_code == 201


def test_api_writes_with_a_browser_session_need_the_csrf_token(client, world):
    from tests.conftest import login
    from tests.world import PASSWORD
    login(client, "t_owner_counselor", PASSWORD)
    response = client.post("/api/break-glass", json={
        "object_type": "case", "object_id": world.records["team_case"].id,
        "reason": "caller named this student in a call tonight"})
    assert response.status_code == 400
