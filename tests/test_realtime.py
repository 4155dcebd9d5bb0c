"""The ``/console`` Socket.IO namespace, through real Socket.IO clients.

Who may connect, which events reach which consoles (and never the others), event ids,
catching up after a drop, watching one case, ending a disabled user's console, and two web
processes sharing one database.

Most tests use the live server, which shares the test's connection: events are caused
through the services in transactions that commit to the test's savepoint and are rolled
back afterwards. What needs data committed for real (the housekeeping loop reads committed
data through a session of its own) runs ``crisisline serve`` on a database of its own.

Consoles connect over WebSocket: python-engineio's polling client can lose a packet sent
while a POST is still in flight, which stalls a connection for a ping interval (25 s).
Refusals are checked on both transports.
"""
from __future__ import annotations

import socket
import time
import uuid
from contextlib import ExitStack, contextmanager
from typing import Callable

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from casework import services as casework
from casework.models import Case
from crisisline.accounts import services as accounts
from crisisline.accounts.models import HotlineNumber, ApiToken, User
from crisisline.config import DEMO_HOTLINE
from crisisline.database import utcnow
from crisisline.realtime import NAMESPACE
from crisisline.realtime.console import rooms_for
from crisisline.realtime.models import ConsoleEvent
from hotline import intake, routing
from hotline.models import Offer
from hotline.simulator import Simulator
from tests.conftest import TEST_REDIS_URL, login, needs_postgres, needs_redis
from tests.test_worker import read_until
from tests.world import PASSWORD

DEMO_PASSWORD = "demo-password-1"


@pytest.fixture(scope="module", autouse=True)
def _socketio_serves_the_app_under_test(app):
    """``socketio`` is one global extension: another ``create_app`` in this process (such
    as tests/test_migrations.py's) re-binds it to a new server, after which the live
    server's consoles are answered by a server that knows none of them (and, with Redis,
    the shared message queue hands what it receives to that new server). Point both back
    at the server the app under test serves, for this module; restore them afterwards."""
    from crisisline.extensions import socketio
    served, current = app.wsgi_app.engineio_app, socketio.server
    queue, queue_server = served.manager, served.manager.server
    socketio.server, queue.server = served, served
    yield
    socketio.server, queue.server = current, queue_server


# -- consoles -----------------------------------------------------------------------------


@contextmanager
def console(url: str, *, cookie: str | None = None, token: str | None = None,
            origin: str | None = None, transport: str = "websocket"):
    """A real Socket.IO console connection; ``.connected`` says whether it was accepted and
    ``.received`` holds ``(event, payload)`` as they arrive."""
    import socketio

    received: list[tuple[str, dict]] = []
    origin = origin or url
    # websocket-client sends an Origin of its own: it is told which, never given a second
    client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin})
    client.on("*", lambda event, data: received.append((event, data)), namespace=NAMESPACE)
    headers = {"Origin": origin} if transport == "polling" else {}
    if cookie is not None:
        headers["Cookie"] = f"session={cookie}"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        client.connect(url, namespaces=[NAMESPACE], headers=headers, transports=[transport],
                       wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        pass
    client.received = received
    try:
        yield client
    finally:
        _close_quickly(client)
        client.disconnect()


def _close_quickly(client) -> None:
    """websocket-client waits 3 s for a closing frame the development server never sends
    (it reads the client's as the next HTTP request); do not wait that long."""
    ws = getattr(client.eio, "ws", None)
    if ws is not None:
        close = ws.close
        ws.close = lambda *args, **kwargs: close(timeout=0.2)


def signed_in(app, name: str):
    """A browser (Flask test client) signed in as world user ``t_<name>``."""
    browser = app.test_client()
    response = login(browser, f"t_{name}", PASSWORD)
    assert response.status_code == 302, f"t_{name} could not sign in"
    return browser


def session_of(browser) -> str:
    return browser.get_cookie("session").value


@contextmanager
def consoles(app, live_server: str, *names: str):
    """One connected console per world user named, each with its own browser session."""
    with ExitStack() as stack:
        opened = []
        for name in names:
            opened.append(stack.enter_context(
                console(live_server, cookie=session_of(signed_in(app, name)))))
            assert opened[-1].connected, f"t_{name}'s console was refused"
        yield opened


def wait_until(client, event: str, predicate: Callable[[dict], bool] = lambda _: True,
               seconds: float = 5.0) -> list[dict]:
    """The ``event`` payloads matching ``predicate``, once one has arrived (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        found = [data for name, data in list(client.received)
                 if name == event and predicate(data)]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def payloads(client, event: str) -> list[dict]:
    return [data for name, data in list(client.received) if name == event]


def settle(seconds: float = 1.0) -> None:
    """Give an event that must not arrive the time it would have needed to."""
    time.sleep(seconds)


def ask(client, event: str, data):
    """Send ``event`` and return the server's acknowledgement."""
    return client.call(event, data, namespace=NAMESPACE, timeout=5)


def disconnected_within(client, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    return not client.connected


# -- causing events -----------------------------------------------------------------------

DISPATCH = {"risk_level": "high", "responder": "周老师", "emergency_services": []}


def case_referred_to(ctx, world, hospital: str) -> int:
    """A case of the on-duty counselor taken to ``hospital_transfer`` at ``hospital``, for
    a student of its own (one student has one open case)."""
    from tests.casework.test_one_case_per_student import new_student
    counselor = world.users["counselor"]
    student_id = new_student(ctx, world, f"t_{uuid.uuid4().hex[:8]}")
    with ctx() as db:
        case = casework.open_case(counselor, source="school_report", risk_level="high",
                                  student_id=student_id)
        db.commit()
        steps = {"dispatch": DISPATCH,
                 "contact_guardian": {"arrived_at": utcnow().isoformat(), "watcher": "宿管"},
                 "refer_to_hospital": {"hospital_id": world.orgs[hospital].id,
                                       "legal_basis": "guardian_consent"}}
        for step, data in steps.items():
            case = casework.fire_event(counselor, case.id, step, data, case.version)
            db.commit()
        assert case.state == "hospital_transfer"
        return case.id


def announce(ctx, case_id: int) -> list[int]:
    """``case.updated`` for one case, committed; the ids of the events it logged."""
    with ctx() as db:
        before = db.scalar(select(ConsoleEvent.id).order_by(ConsoleEvent.id.desc()).limit(1))
        casework.announce(db.get(Case, case_id))
        db.commit()
        return list(db.scalars(select(ConsoleEvent.id).where(
            ConsoleEvent.id > (before or 0), ConsoleEvent.name == "case.updated")))


def chats_waiting_at(ctx, centre_id: int, count: int = 1) -> list[int]:
    """``count`` anonymous web chats join a centre's queue, committed."""
    with ctx() as db:
        contacts = [intake.start_chat(centre_id, f"有人吗？{n}") for n in range(count)]
        db.commit()
        return [contact.id for contact in contacts]


def route(ctx, centre_id: int) -> None:
    """Offer a centre's waiting contacts now, committed. (The chat's own after-commit
    routing runs eagerly only while the test app's Celery is the default one.)"""
    with ctx() as db:
        routing.route(centre_id)
        db.commit()


def logged(ctx, ids) -> dict[int, ConsoleEvent]:
    with ctx() as db:
        return {event.id: event for event in db.scalars(
            select(ConsoleEvent).where(ConsoleEvent.id.in_(list(ids))))}


# -- who may connect ----------------------------------------------------------------------

def test_a_console_without_credentials_is_refused(live_server, world):
    with console(live_server) as client:
        assert not client.connected


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_console_from_a_foreign_origin_is_refused_even_with_a_valid_session(
        app, live_server, world, transport):
    cookie = session_of(signed_in(app, "supervisor"))
    with console(live_server, cookie=cookie, origin="https://evil.example",
                 transport=transport) as client:
        assert not client.connected
    with console(live_server, cookie=cookie) as client:  # the same session, our own origin
        assert client.connected


def test_a_console_with_a_session_from_its_own_origin_is_accepted_and_hears_its_queue(
        app, live_server, ctx, world):
    with console(live_server, cookie=session_of(signed_in(app, "supervisor"))) as client:
        assert client.connected
        chats_waiting_at(ctx, world.orgs["A"].id)
        updates = wait_until(client, "queue.updated")
    assert updates and updates[0]["centre_id"] == world.orgs["A"].id


def test_a_console_with_a_bearer_token_is_accepted_and_hears_its_queue(live_server, ctx,
                                                                       world):
    with ctx() as db:
        token = accounts.issue_token("t_supervisor")
        db.commit()
    with console(live_server, token=token) as client:
        assert client.connected
        chats_waiting_at(ctx, world.orgs["A"].id)
        updates = wait_until(client, "queue.updated")
    assert updates and updates[0]["centre_id"] == world.orgs["A"].id


@pytest.mark.parametrize("kind", ["revoked", "unknown", "not_a_token", "of_a_disabled_user"])
def test_a_console_with_a_revoked_or_garbage_token_is_refused(live_server, ctx, world, kind):
    with ctx() as db:
        token = accounts.issue_token("t_supervisor")
        if kind == "revoked":
            record = db.scalars(select(ApiToken).where(ApiToken.prefix == token[:8])).one()
            record.revoked_at = utcnow()
        elif kind == "of_a_disabled_user":
            accounts.disable_user("t_supervisor")
        db.commit()
    token = {"unknown": "cl_" + "x" * 43, "not_a_token": "garbage"}.get(kind, token)
    with console(live_server, token=token) as client:
        assert not client.connected


def test_a_bad_token_is_refused_even_alongside_a_valid_session(app, live_server, world):
    cookie = session_of(signed_in(app, "supervisor"))
    with console(live_server, cookie=cookie, token="cl_not-a-real-token") as client:
        assert not client.connected


def test_a_forged_session_cookie_is_refused(live_server, world):
    with console(live_server, cookie="eyJfdXNlcl9pZCI6IjE6MCJ9.forged.signature") as client:
        assert not client.connected


# -- who hears what -----------------------------------------------------------------------

def test_a_liaison_hears_of_cases_referred_to_their_hospital_and_never_of_another_hospitals(
        app, live_server, ctx, world):
    with consoles(app, live_server, "liaison", "other_liaison") as (liaison, other):
        to_h2 = case_referred_to(ctx, world, "H2")
        to_h1 = case_referred_to(ctx, world, "H1")
        mine = wait_until(liaison, "case.updated", lambda d: d["case_id"] == to_h1)
        theirs = wait_until(other, "case.updated", lambda d: d["case_id"] == to_h2)
        settle()
    assert mine and mine[-1]["state"] == "hospital_transfer"
    assert theirs and theirs[-1]["state"] == "hospital_transfer"
    assert {d["case_id"] for d in payloads(liaison, "case.updated")} == {to_h1}
    assert {d["case_id"] for d in payloads(other, "case.updated")} == {to_h2}


def test_a_volunteer_hears_only_their_own_offer_never_another_volunteers(
        app, live_server, ctx, world):
    with ctx() as db:
        for name in ("volunteer", "other_volunteer"):
            routing.change_presence(db.get(User, world.users[name].id), "sign_in")
        db.commit()
    with consoles(app, live_server, "volunteer", "other_volunteer") as (mine, theirs):
        contact_ids = chats_waiting_at(ctx, world.orgs["A"].id, count=2)  # one each
        route(ctx, world.orgs["A"].id)
        assert wait_until(mine, "contact.offered")
        assert wait_until(theirs, "contact.offered")
        settle()
    with ctx() as db:
        offers = {offer.user_id: (offer.id, offer.contact_id) for offer in db.scalars(
            select(Offer).where(Offer.contact_id.in_(contact_ids)))}
    assert len(offers) == 2
    for client, name in ((mine, "volunteer"), (theirs, "other_volunteer")):
        heard = [(d["offer_id"], d["contact_id"]) for d in payloads(client, "contact.offered")]
        assert heard == [offers[world.users[name].id]]


def test_a_supervisor_hears_queue_updates_of_their_own_centre_only(app, live_server, ctx,
                                                                     world):
    centre_a, centre_b = world.orgs["A"].id, world.orgs["B"].id
    with consoles(app, live_server, "supervisor", "other_supervisor") as (mine, theirs):
        chats_waiting_at(ctx, centre_b)
        chats_waiting_at(ctx, centre_a)
        assert wait_until(mine, "queue.updated", lambda d: d["centre_id"] == centre_a)
        assert wait_until(theirs, "queue.updated", lambda d: d["centre_id"] == centre_b)
        settle()
    assert {d["centre_id"] for d in payloads(mine, "queue.updated")} == {centre_a}
    assert {d["centre_id"] for d in payloads(theirs, "queue.updated")} == {centre_b}


def test_a_counselor_hears_of_a_case_of_their_team_and_others_do_not(app, live_server, ctx,
                                                                    world):
    with consoles(app, live_server, "counselor", "owner_counselor",
                  "outsider_counselor") as (team_member, not_on_team, other_centre):
        with ctx() as db:  # opened by the supervisor: nobody owns it, the on-duty team has it
            case = casework.open_case(db.get(User, world.users["supervisor"].id),
                                      source="parent", risk_level="high")
            db.commit()
            assert case.owner_id is None and case.team_id is not None
        heard = wait_until(team_member, "case.updated", lambda d: d["case_id"] == case.id)
        settle()
    assert heard and heard[0]["state"] == "reported"
    for client in (not_on_team, other_centre):
        assert [d for d in payloads(client, "case.updated") if d["case_id"] == case.id] == []


def test_payloads_carry_ids_and_states_never_personal_details(app, live_server, ctx, world):
    with consoles(app, live_server, "supervisor") as (client,):
        announce(ctx, world.records["team_case"].id)
        [update] = wait_until(client, "case.updated")
    assert set(update) == {"case_id", "state", "event_id"}


# -- event ids ----------------------------------------------------------------------------

def test_every_event_carries_an_integer_event_id_increasing_from_change_to_change(
        app, live_server, ctx, world):
    """Ids are taken in the transaction that logs the event, so each change's events have
    larger ids than an earlier change's. (Within one change, work done after its commit,
    such as routing, may send a larger id a moment before a smaller one: consoles order by
    id, and catching up resends a grace period.)"""
    def newest() -> int:
        with ctx() as db:
            return db.scalar(select(ConsoleEvent.id).order_by(ConsoleEvent.id.desc())
                             .limit(1)) or 0

    def volunteer_signs_in():
        with ctx() as db:
            routing.change_presence(db.get(User, world.users["volunteer"].id), "sign_in")
            db.commit()

    with ctx() as db:
        rooms = rooms_for(db.get(User, world.users["supervisor"].id))
    changes = [lambda: chats_waiting_at(ctx, world.orgs["A"].id),
               lambda: announce(ctx, world.records["team_case"].id),
               volunteer_signs_in,
               lambda: (chats_waiting_at(ctx, world.orgs["A"].id),  # offered to the volunteer
                        route(ctx, world.orgs["A"].id))]
    batches: list[set[int]] = []
    with consoles(app, live_server, "supervisor") as (client,):
        for change in changes:
            before = newest()
            change()
            with ctx() as db:
                batches.append(set(db.scalars(select(ConsoleEvent.id).where(
                    ConsoleEvent.id > before, ConsoleEvent.room.in_(rooms)))))
            deadline = time.monotonic() + 5
            while not batches[-1] <= {d.get("event_id") for _, d in list(client.received)} \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
        settle(0.5)
        received = list(client.received)
    assert all(batches) and len(batches) == len(changes)
    ids = [data.get("event_id") for _, data in received]
    assert all(type(event_id) is int for event_id in ids), ids
    assert len(set(ids)) == len(ids) and set(ids) == set().union(*batches)
    for earlier, later in zip(batches, batches[1:]):
        assert max(earlier) < min(later)
    arrival = [next(n for n, batch in enumerate(batches) if i in batch) for i in ids]
    assert arrival == sorted(arrival)  # a change's events arrive after an earlier change's
    assert {name for name, _ in received} >= {"queue.updated", "case.updated", "agent.status"}
    rows = logged(ctx, ids)
    for name, data in received:
        row = rows[data["event_id"]]
        assert (row.name, {**row.payload, "event_id": row.id}) == (name, data)


# -- catching up --------------------------------------------------------------------------

def test_a_reconnected_console_catches_up_on_exactly_the_missed_events_of_its_rooms(
        app, live_server, ctx, world):
    cookie = session_of(signed_in(app, "supervisor"))
    with console(live_server, cookie=cookie) as client:
        announce(ctx, world.records["team_case"].id)
        assert wait_until(client, "case.updated")
        seen = {data["event_id"] for _, data in client.received}
        last_seen = max(seen)

    # while it is away: events in its rooms, and in rooms it may not join
    chats_waiting_at(ctx, world.orgs["A"].id)  # queue:A
    announce(ctx, world.records["owned_case"].id)  # supervisors:A, case:, user:
    announce(ctx, world.records["case_b"].id)  # centre B's rooms only
    chats_waiting_at(ctx, world.orgs["B"].id)  # queue:B
    with ctx() as db:
        rooms = rooms_for(db.get(User, world.users["supervisor"].id))
        missed = db.scalars(select(ConsoleEvent).where(ConsoleEvent.id > last_seen)).all()
    expected = {event.id for event in missed if event.room in rooms}
    elsewhere = {event.id for event in missed if event.room not in rooms}
    assert expected and elsewhere  # the test made both kinds

    with console(live_server, cookie=cookie) as client:
        assert client.connected
        ack = ask(client, "catch_up", {"last_event_id": last_seen})
        settle(0.5)
        replayed = [(name, data) for name, data in list(client.received)
                    if data.get("replayed")]
        live = [(name, data) for name, data in list(client.received)
                if not data.get("replayed")]
    assert live == []
    assert ack == {"ok": True, "resent": len(replayed)}
    replayed_ids = [data["event_id"] for _, data in replayed]
    assert replayed_ids == sorted(set(replayed_ids))  # in order, each once
    assert set(replayed_ids) - seen == expected  # all it missed, nothing more
    assert not set(replayed_ids) & elsewhere
    rows = logged(ctx, replayed_ids)
    for name, data in replayed:  # (a short grace resends some it saw: consoles ignore those)
        row = rows[data["event_id"]]
        assert row.room in rooms
        assert (row.name, {**row.payload, "event_id": row.id, "replayed": True}) == \
            (name, data)


@pytest.mark.parametrize("data", [
    {"last_event_id": "12"}, {"last_event_id": -1}, {"last_event_id": None},
    {"last_event_id": 1.5}, {"last_event_id": True}, {}, "12", [12], None,
], ids=["string", "negative", "null", "float", "boolean", "missing", "not_an_object",
        "list", "no_payload"])
def test_a_catch_up_with_a_bad_last_event_id_is_answered_not_ok(app, live_server, ctx,
                                                                 world, data):
    announce(ctx, world.records["team_case"].id)  # something it could be sent
    with consoles(app, live_server, "supervisor") as (client,):
        ack = ask(client, "catch_up", data)
        settle(0.5)
    assert ack["ok"] is False
    assert [d for _, d in client.received if d.get("replayed")] == []


def through_the_glass(ctx, world, name: str = "owner_counselor") -> int:
    """team_case, opened by ``name`` (same centre, neither its owner nor on its team) through
    the glass: they may view it, but none of their console's own rooms hears of it."""
    from crisisline.access import services as access
    case_id = world.records["team_case"].id
    with ctx() as db:
        access.break_glass(db.get(User, world.users[name].id), "case", case_id,
                           "caller gave this student's name during a rescue call")
        db.commit()
    return case_id


def test_a_watched_case_is_caught_up_on_only_once_it_is_watched_again(app, live_server, ctx,
                                                                       world):
    case_id = through_the_glass(ctx, world)
    cookie = session_of(signed_in(app, "owner_counselor"))
    with console(live_server, cookie=cookie) as client:
        assert ask(client, "watch_case", {"case_id": case_id}) == {"ok": True}
        announce(ctx, case_id)
        [first] = wait_until(client, "case.updated")
    [missed] = [event_id for event_id, row in logged(ctx, announce(ctx, case_id)).items()
                if row.room == f"case:{case_id}"]
    with console(live_server, cookie=cookie) as client:  # a new connection watches nothing
        before = ask(client, "catch_up", {"last_event_id": first["event_id"]})
        assert ask(client, "watch_case", {"case_id": case_id}) == {"ok": True}
        after = ask(client, "catch_up", {"last_event_id": first["event_id"]})
        settle(0.5)
        replayed = [d["event_id"] for _, d in list(client.received) if d.get("replayed")]
    assert before == {"ok": True, "resent": 0}
    assert after["ok"] is True and missed in replayed


# -- watching a case ----------------------------------------------------------------------

def test_a_user_who_may_view_a_case_watches_it_and_then_hears_its_changes(
        app, live_server, ctx, world):
    case_id = through_the_glass(ctx, world)
    with consoles(app, live_server, "owner_counselor", "supervisor") as (reader, supervisor):
        announce(ctx, case_id)  # not watched yet: the reader is in none of its rooms
        assert wait_until(supervisor, "case.updated")  # sent to everyone it was for
        settle(0.5)
        assert payloads(reader, "case.updated") == []
        assert ask(reader, "watch_case", {"case_id": case_id}) == {"ok": True}
        ids = announce(ctx, case_id)
        heard = wait_until(reader, "case.updated")
        settle(0.5)
    assert [d["case_id"] for d in payloads(reader, "case.updated")] == [case_id]
    assert heard[0]["event_id"] in ids and heard[0]["state"] == "reported"


@pytest.mark.parametrize("name, record", [
    ("other_liaison", "transfer_case"),  # referred to another hospital
    ("outsider_counselor", "team_case"),  # another centre's counselor, no grant
    ("owner_counselor", "team_case"),  # same centre, neither its owner nor on its team
    ("volunteer", "owned_case"),  # volunteers see contacts, not cases
    ("reporter", "owned_case"),  # reported something else
])
def test_a_user_who_may_not_view_a_case_cannot_watch_it_and_hears_nothing_of_it(
        app, live_server, ctx, world, name, record):
    case_id = world.records[record].id
    with consoles(app, live_server, name, "supervisor") as (client, supervisor):
        assert ask(client, "watch_case", {"case_id": case_id}) == {"ok": False}
        announce(ctx, case_id)
        assert wait_until(supervisor, "case.updated")
        settle(0.5)
    assert [d for d in payloads(client, "case.updated") if d["case_id"] == case_id] == []


@pytest.mark.parametrize("data", [{"case_id": 999999}, {"case_id": "1"}, {}, "1", None],
                         ids=["unknown", "string", "missing", "not_an_object", "no_payload"])
def test_watching_no_such_case_is_answered_not_ok(app, live_server, world, data):
    with consoles(app, live_server, "supervisor") as (client,):
        reply = ask(client, "watch_case", data)
    assert reply["ok"] is False
    # a malformed request names the field; an unknown case is only "not ok"
    assert reply == {"ok": False} if data == {"case_id": 999999} else "case_id" in reply["fields"]


# -- only what the console may read at that moment (issue 11, C3-C5) -----------------------

BREAK_GLASS_REASON = "caller gave this student's name during a rescue call"


def moved_out_of_transfer(ctx, case_id: int) -> None:
    """The case leaves ``hospital_transfer`` (as start_leave would), announced, committed."""
    with ctx() as db:
        case = db.get(Case, case_id)
        case.state = "on_leave"
        casework.announce(case)
        db.commit()


def test_a_liaison_hears_no_state_change_of_a_case_that_left_their_hospitals_transfer(
        app, live_server, ctx, world):
    with consoles(app, live_server, "liaison", "supervisor") as (liaison, supervisor):
        case_id = case_referred_to(ctx, world, "H1")
        assert wait_until(liaison, "case.updated", lambda d: d["case_id"] == case_id)
        moved_out_of_transfer(ctx, case_id)
        assert wait_until(supervisor, "case.updated", lambda d: d["state"] == "on_leave")
        settle(0.5)
    assert [d["state"] for d in payloads(liaison, "case.updated")
            if d["case_id"] == case_id] == ["hospital_transfer"]


def test_a_liaisons_catch_up_replays_nothing_about_cases_it_can_no_longer_open(
        app, live_server, ctx, world):
    cookie = session_of(signed_in(app, "liaison"))
    with console(live_server, cookie=cookie) as client:
        announce(ctx, world.records["team_case"].id)  # something to anchor the last id on
        settle(0.5)
    with ctx() as db:
        last = db.scalar(select(ConsoleEvent.id).order_by(ConsoleEvent.id.desc()).limit(1))
    case_id = case_referred_to(ctx, world, "H1")  # the liaison's rooms hear of it ...
    moved_out_of_transfer(ctx, case_id)  # ... and then it may no longer open it
    with console(live_server, cookie=cookie) as client:
        ack = ask(client, "catch_up", {"last_event_id": last})
        settle(0.5)
        replayed = [d for _, d in list(client.received) if d.get("replayed")]
    assert ack["ok"] is True
    assert [d for d in replayed if d.get("case_id") == case_id] == []


def test_a_case_watched_through_the_glass_is_left_when_the_grant_expires(
        app, live_server, ctx, world):
    from crisisline.access import services as access
    from crisisline.access.models import BreakGlassGrant
    case_id = world.records["team_case"].id  # owner_counselor is neither owner nor on its team
    with ctx() as db:
        grant, _new = access.break_glass(db.get(User, world.users["owner_counselor"].id),
                                         "case", case_id, BREAK_GLASS_REASON)
        db.commit()
        grant_id = grant.id
    with consoles(app, live_server, "owner_counselor") as (client,):
        assert ask(client, "watch_case", {"case_id": case_id}) == {"ok": True}
        announce(ctx, case_id)
        assert wait_until(client, "case.updated", lambda d: d["case_id"] == case_id)
        with ctx() as db:
            db.get(BreakGlassGrant, grant_id).expires_at = utcnow()
            db.commit()
        # what the housekeeping loop does every couple of seconds (called here: on SQLite
        # the loop's own reads wait behind the test's open transaction)
        from crisisline.realtime.console import _follow_access
        _follow_access(app)
        before = len(payloads(client, "case.updated"))
        announce(ctx, case_id)
        settle(1.0)
        assert len(payloads(client, "case.updated")) == before
        last = max(d["event_id"] for _, d in client.received)
        ack = ask(client, "catch_up", {"last_event_id": last - 1})
        settle(0.5)
    assert ack["ok"] is True
    assert [d for _, d in client.received if d.get("replayed") and d.get("case_id") == case_id] \
        == []


def test_the_housekeeping_asks_the_access_rules_only_after_its_own_transaction_ended(
        app, tmp_path, monkeypatch):
    """On SQLite every transaction holds the one write lock: the access rules read through
    another session, which waited for the housekeeping's own lock until the busy timeout
    (30 s), and every request with it (pages hung while a case page was open)."""
    from datetime import timedelta

    from crisisline.database import Base, make_engine
    from crisisline.realtime import console
    engine = make_engine(f"sqlite:///{tmp_path / 'housekeeping.sqlite'}")
    Base.metadata.create_all(engine)
    baseline = engine.pool.checkedout()
    held_while_asking = []
    monkeypatch.setattr(console, "_follow_access",
                        lambda _app: held_while_asking.append(engine.pool.checkedout()))
    console._housekeep_once(engine, timedelta(0), app, {"relayed_up_to": 0, "last_check": 0})
    assert held_while_asking == [baseline]  # asked once, holding no connection of its own
    engine.dispose()


def test_a_refused_watch_is_audited_as_a_denied_access(app, live_server, ctx, world):
    from crisisline.audit.models import AuditEntry
    case_id = world.records["team_case"].id
    with consoles(app, live_server, "owner_counselor") as (client,):
        assert ask(client, "watch_case", {"case_id": case_id}) == {"ok": False}
    with ctx() as db:
        [denied] = db.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied"))
    assert (denied.actor_name, denied.object_type, denied.object_id, denied.outcome) == \
        ("t_owner_counselor", "case", str(case_id), "denied")


@pytest.mark.parametrize("event, field", [("catch_up", "last_event_id"),
                                          ("watch_case", "case_id")])
@pytest.mark.parametrize("value", [10**30, -(10**30), "12", [12], {"a": 1}, 1.5, True, None,
                                   "missing"],
                         ids=["huge", "huge_negative", "string", "list", "object", "float",
                              "boolean", "null", "missing"])
def test_socket_requests_with_bad_arguments_get_an_error_naming_the_field(
        app, live_server, world, event, field, value):
    data = {} if value == "missing" else {field: value}
    with consoles(app, live_server, "supervisor") as (client,):
        reply = ask(client, event, data)
        assert client.connected
        assert ask(client, "watch_case", {"case_id": world.records["team_case"].id}) \
            == {"ok": True}  # the connection still works
    assert reply["ok"] is False and field in reply["fields"]
    assert isinstance(reply["fields"][field], str) and reply["fields"][field]


@pytest.mark.parametrize("event", ["catch_up", "watch_case"])
@pytest.mark.parametrize("data", ["12", [12], None], ids=["string", "list", "no_payload"])
def test_socket_requests_that_are_not_objects_get_an_error(app, live_server, world, event,
                                                            data):
    with consoles(app, live_server, "supervisor") as (client,):
        reply = ask(client, event, data)
    assert reply["ok"] is False and reply["error"]


def test_supervisors_see_a_new_case_live(app, live_server, api, ctx, world):
    from tests.casework.test_one_case_per_student import new_student
    with consoles(app, live_server, "supervisor", "other_supervisor") as (mine, theirs):
        response = api("counselor").post("/api/cases", {
            "source": "parent", "risk_level": "high", "student_id": new_student(ctx, world)})
        assert response.status_code == 201
        case_id = response.json["id"]
        heard = wait_until(mine, "case.updated", lambda d: d["case_id"] == case_id)
        settle(0.5)
    assert heard and heard[0]["state"] == "reported"
    assert [d for d in payloads(theirs, "case.updated") if d["case_id"] == case_id] == []


# -- crisisline serve, on a database of its own -------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(crisisline, env: dict | None = None):
    """``crisisline serve`` on a free port; its URL once it listens."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = crisisline.start("serve", "--port", str(port),
                              env={**(env or {}), "CRISISLINE_PUBLIC_URL": url})
    try:
        assert "serving" in read_until(server, "serving")
        for _ in range(100):  # listening a moment after it says so
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        server.stdout.close()


def browser_session(url: str, username: str) -> requests.Session:
    """A real HTTP session signed in through the login form."""
    http = requests.Session()
    page = http.get(f"{url}/login", timeout=10).text
    csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = http.post(f"{url}/login", timeout=10, allow_redirects=False, data={
        "csrf_token": csrf, "username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{username} could not sign in"
    return http


@contextmanager
def cli_database(url: str):
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def demo(crisisline, cli_database_url):
    """The seeded demo on a database of its own: ``crisisline init`` + ``seed-demo``."""
    crisisline("init")
    crisisline("seed-demo", "--password", DEMO_PASSWORD)
    with cli_database(cli_database_url) as session:
        crisisline.user_ids = dict(session.execute(select(User.username, User.id)).all())
        crisisline.centre_id = session.scalar(select(HotlineNumber.centre_id).where(
                HotlineNumber.number == DEMO_HOTLINE))
    return crisisline


def test_a_user_disabled_on_the_admin_page_loses_their_open_console_within_seconds(demo):
    with serving(demo) as url:
        admin = browser_session(url, "demo_admin")
        volunteer = browser_session(url, "demo_volunteer").cookies.get("session")
        bystander = browser_session(url, "demo_volunteer2").cookies.get("session")
        with console(url, cookie=volunteer) as client, \
                console(url, cookie=bystander) as other:
            assert client.connected and other.connected
            page = admin.get(f"{url}/admin/users", timeout=10).text
            csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
            response = admin.post(
                f"{url}/admin/users/{demo.user_ids['demo_volunteer']}/disable",
                data={"csrf_token": csrf}, allow_redirects=False, timeout=10)
            assert response.status_code == 302
            assert disconnected_within(client, seconds=8)
            assert other.connected  # only the disabled user's consoles end
        with console(url, cookie=volunteer) as again:
            assert not again.connected


def test_a_user_disabled_by_another_process_loses_their_open_console_within_seconds(demo):
    with serving(demo) as url:
        cookie = browser_session(url, "demo_counselor").cookies.get("session")
        with console(url, cookie=cookie) as client:
            assert client.connected
            demo("users", "disable", "demo_counselor")  # the command line, its own process
            assert disconnected_within(client, seconds=8)


# -- two web processes --------------------------------------------------------------------

@pytest.mark.parametrize("transport", [
    pytest.param("redis", marks=[needs_postgres, needs_redis]),
    "event_log",  # the embedded default: each process sends on what the others logged
])
def test_an_event_caused_on_one_web_process_reaches_a_console_on_another(demo, transport):
    env = {"CRISISLINE_REDIS_URL": TEST_REDIS_URL} if transport == "redis" else {}
    twilio_token = (demo.instance_path / "twilio_demo_token").read_text().strip()
    with serving(demo, env) as process_a, serving(demo, env) as process_b:
        cookie = browser_session(process_a, "demo_supervisor").cookies.get("session")
        with console(process_b, cookie=cookie) as client:  # signed in on A, watching on B
            assert client.connected
            simulator = Simulator(process_a, twilio_token, DEMO_HOTLINE)
            simulator.text(f"你好，请问现在有人在吗？{uuid.uuid4().hex[:4]}")  # to A only
            assert simulator.report.failures == []
            updates = wait_until(client, "queue.updated", seconds=5)
    assert updates and updates[0]["centre_id"] == demo.centre_id
    assert type(updates[0]["event_id"]) is int
