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


# -- expiry, revocation one at a time, last use ---------------------------------------------

def record_of(db, token: str) -> ApiToken:
    return db.scalars(select(ApiToken).where(
        ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())).one()


def test_a_token_expires_after_the_configured_days(client, ctx, world, token, app):
    from datetime import timedelta

    from crisisline.database import utcnow
    with ctx() as db:
        record = record_of(db, token)
        lifetime = record.expires_at - record.created_at
        assert lifetime == timedelta(days=app.config["API_TOKEN_DAYS"]) == timedelta(days=90)
        record.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    response = client.get(f"/api/cases/{world.records['team_case'].id}", headers=bearer(token))
    assert response.status_code == 401


def test_one_token_is_revoked_and_the_users_others_keep_working(client, ctx, world, token):
    with ctx() as db:
        other = services.issue_token("t_counselor")
        db.commit()
        services.revoke_token(record_of(db, token).prefix)
        db.commit()
    case = f"/api/cases/{world.records['team_case'].id}"
    assert client.get(case, headers=bearer(token)).status_code == 401
    assert client.get(case, headers=bearer(other)).status_code == 200
    from crisisline.audit.models import AuditEntry
    with ctx() as db:
        assert db.scalars(select(AuditEntry.action).where(
            AuditEntry.action == "api_token.revoke")).all() == ["api_token.revoke"]


def test_revoking_an_unknown_or_ambiguous_prefix_changes_nothing(ctx, world, token):
    from crisisline.errors import Conflict, NotFound
    with ctx() as db:
        with pytest.raises(NotFound):
            services.revoke_token("cl_nope")
        twin = services.issue_token("t_supervisor")
        record_of(db, twin).prefix = record_of(db, token).prefix
        db.flush()
        with pytest.raises(Conflict):
            services.revoke_token(record_of(db, token).prefix)
        assert record_of(db, token).revoked_at is None


def test_a_tokens_last_use_is_recorded_at_most_once_a_minute(client, ctx, world, token):
    from datetime import timedelta
    case = f"/api/cases/{world.records['team_case'].id}"
    with ctx() as db:
        assert record_of(db, token).last_used_at is None
    client.get(case, headers=bearer(token))
    with ctx() as db:
        first = record_of(db, token).last_used_at
    assert first is not None
    client.get(case, headers=bearer(token))
    with ctx() as db:
        assert record_of(db, token).last_used_at == first  # no write within the minute
        record_of(db, token).last_used_at = first - timedelta(minutes=2)
        db.commit()
    client.get(case, headers=bearer(token))
    with ctx() as db:
        assert record_of(db, token).last_used_at > first


def test_the_command_line_lists_and_revokes_tokens_one_at_a_time(crisisline,
                                                                   cli_database_url):
    crisisline("init")
    crisisline("users", "create", "api.client", "--role", "admin", "--password",
               "some-long-pass")
    first = crisisline("users", "token", "api.client").stdout.splitlines()[-1]
    second = crisisline("users", "token", "api.client").stdout.splitlines()[-1]
    listing = crisisline("users", "tokens", "api.client").stdout
    assert first[:8] in listing and second[:8] in listing
    assert first not in listing and second not in listing  # never the token itself
    assert "expires" in listing and "last used" in listing
    revoked = crisisline("users", "revoke-token", first[:8])
    assert first[:8] in revoked.stdout
    listing = crisisline("users", "tokens", "api.client").stdout.splitlines()
    line_of = {prefix: next(line for line in listing if line.startswith(prefix))
               for prefix in (first[:8], second[:8])}
    assert "revoked" in line_of[first[:8]] and "revoked" not in line_of[second[:8]]
    again = crisisline("users", "revoke-token", first[:8], check=False)
    assert again.returncode != 0


def test_the_token_lifetime_is_a_validated_setting(tmp_path):
    from crisisline.config import ConfigError, load_settings
    assert load_settings({}, instance_path=tmp_path).api_token_days == 90
    assert load_settings({"CRISISLINE_API_TOKEN_DAYS": "30"},
                         instance_path=tmp_path).api_token_days == 30
    for bad in ("0", "ninety", "36500"):
        with pytest.raises(ConfigError, match="CRISISLINE_API_TOKEN_DAYS"):
            load_settings({"CRISISLINE_API_TOKEN_DAYS": bad}, instance_path=tmp_path)
