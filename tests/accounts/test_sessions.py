"""Server-side sessions: every sign-in is a row; signing out ends it for every copy of the
cookie, on the pages and on the console socket; other sign-ins of the same person go on."""
from __future__ import annotations

import re

from sqlalchemy import select

from crisisline.accounts import services
from crisisline.accounts.models import UserSession
from crisisline.audit.models import AuditEntry
from tests.conftest import login
from tests.test_realtime import _socketio_serves_the_app_under_test  # noqa: F401  (fixture)
from tests.test_realtime import demo as demo  # noqa: F401  (fixture)
from tests.test_realtime import (browser_session, console, disconnected_within, serving,
                                 session_of)
from tests.world import PASSWORD

CONSOLE = "/console/volunteer"


def token_in(page: str) -> str:
    """The CSRF token of a page's forms (the sign-out button's, on every signed-in page)."""
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def csrf_token(client, path: str = CONSOLE) -> str:
    return token_in(client.get(path).get_data(as_text=True))


def sign_out(client) -> None:
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302


def copy_of(app, browser):
    """Another browser holding a copy of ``browser``'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", session_of(browser))
    return thief


def signed_in(app, name: str = "volunteer", address: str = "127.0.0.1"):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    assert login(browser, f"t_{name}", PASSWORD).status_code == 302
    return browser


def test_a_copied_session_cookie_is_refused_after_sign_out(app, world):
    browser = signed_in(app)
    thief = copy_of(app, browser)
    assert thief.get(CONSOLE).status_code == 200  # the copy works while the sign-in lasts
    sign_out(browser)
    response = thief.get(CONSOLE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert thief.get("/api/cases", headers={"Accept": "application/json"}).status_code == 401


def test_a_copied_session_cookie_cannot_open_a_console_after_sign_out(app, live_server, world):
    browser = signed_in(app, "supervisor")
    cookie = session_of(browser)
    with console(live_server, cookie=cookie) as client:
        assert client.connected
    sign_out(browser)
    with console(live_server, cookie=cookie) as client:
        assert not client.connected


def test_signing_out_ends_the_open_consoles_of_that_sign_in_only(demo):  # noqa: F811
    # the console housekeeping reads committed data: a server of its own on the demo
    with serving(demo) as url:
        office = browser_session(url, "demo_supervisor")
        home = browser_session(url, "demo_supervisor")
        with console(url, cookie=office.cookies.get("session")) as ended, \
                console(url, cookie=home.cookies.get("session")) as other:
            assert ended.connected and other.connected
            page = office.get(f"{url}/console/supervisor", timeout=10).text
            token = token_in(page)
            response = office.post(f"{url}/logout", data={"csrf_token": token},
                                   allow_redirects=False, timeout=10)
            assert response.status_code == 302
            assert disconnected_within(ended, seconds=8)
            assert other.connected  # the same person's other sign-in goes on


def test_signing_out_on_one_device_leaves_the_others_signed_in(app, world):
    office, home = signed_in(app), signed_in(app)
    sign_out(office)
    assert home.get(CONSOLE).status_code == 200
    assert office.get(CONSOLE).status_code == 302


def test_each_sign_in_is_a_server_side_record_ended_by_sign_out_and_audited(app, ctx, world):
    browser = signed_in(app, address="10.9.8.7")
    with ctx() as db:
        record = db.scalars(select(UserSession).where(
            UserSession.user_id == world.users["volunteer"].id)).one()
        assert (record.source_address, record.ended_at) == ("10.9.8.7", None)
        assert record.created_at and record.last_seen_at
        # the cookie carries a random key; the table holds only its hash
        assert record.key_hash not in session_of(browser)
    sign_out(browser)
    with ctx() as db:
        record = db.get(UserSession, record.id)
        assert record.ended_at is not None and record.end_reason == "sign_out"
        entries = db.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["auth.login", "auth.logout"])).order_by(AuditEntry.seq)).all()
    assert [(entry.action, entry.changes["session"]["new"]) for entry in entries] == [
        ("auth.login", record.id), ("auth.logout", record.id)]


def test_disabling_a_user_ends_every_session_of_theirs(app, ctx, world):
    office, home = signed_in(app), signed_in(app)
    with ctx() as db:
        services.disable_user("t_volunteer")
        db.commit()
        ended = db.scalars(select(UserSession.end_reason).where(
            UserSession.user_id == world.users["volunteer"].id)).all()
    assert ended == ["user_disabled", "user_disabled"]
    assert office.get(CONSOLE).status_code == home.get(CONSOLE).status_code == 302


def test_a_session_notes_when_it_was_last_seen_at_most_once_a_minute(app, ctx, world):
    from datetime import timedelta
    browser = signed_in(app)
    with ctx() as db:
        record = db.scalars(select(UserSession)).one()
        record.last_seen_at -= timedelta(minutes=5)
        db.commit()
        stale = record.last_seen_at
    browser.get(CONSOLE)
    with ctx() as db:
        seen = db.get(UserSession, record.id).last_seen_at
    assert seen > stale + timedelta(minutes=4)
    browser.get(CONSOLE)
    with ctx() as db:
        assert db.get(UserSession, record.id).last_seen_at == seen  # no write within a minute
