"""The ``/console`` Socket.IO namespace: who may connect, which rooms they join, catching
up after a drop, and ending the connections of a disabled user or an ended sign-in.

A connection is accepted with a signed-in session or an ``Authorization: Bearer`` token,
and (python-engineio's default) only from this server's own origin. Its rooms follow the
access rules: the server joins them, never the client. A console that reconnects sends
``catch_up`` with the last ``event_id`` it saw and is sent what it missed, of the records
its user may read now. A request with a bad argument is answered
``{"ok": false, "error": …, "fields": {<argument>: …}}``.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_socketio import emit, join_room
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crisisline import audit
from crisisline.access.rules import RECORD_TYPES, VIEW, can, team_ids
from crisisline.accounts.models import OrgKind, Role, User, UserSession
from crisisline.accounts.services import user_for_token
from crisisline.database import db, utcnow
from crisisline.messages import problems, refusal
from crisisline.extensions import socketio
from crisisline.realtime import (NAMESPACE, case_room, hospital_room, queue_room, reports_room,
                                 sent_here, subject, supervisors_room, team_room, user_room)
from crisisline.realtime.models import ConsoleEvent

log = logging.getLogger(__name__)
CATCH_UP_LIMIT = 500
CATCH_UP_WINDOW = timedelta(hours=12)
# ids are taken at flush, so a slower transaction can commit a smaller id a moment after a
# larger one was sent: catching up also resends this much before the last id (consoles
# ignore ids they have seen)
REORDER_GRACE = timedelta(seconds=30)
DISABLED_CHECK_SECONDS = 2
RELAY_SECONDS = 0.5
# with Redis, an event arrives through it within milliseconds; one not here after this long
# was lost on the way (Redis was down, or this process was resubscribing) and is sent from
# the event log instead
QUEUE_GRACE = timedelta(seconds=2)
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns

_connected: dict[str, int] = {}  # this process's console connections: sid -> user id
_session_of: dict[str, int] = {}  # those opened with a browser session: sid -> session id
_connected_lock = threading.Lock()
_watcher: list = []


def rooms_for(user: User) -> list[str]:
    """The rooms a user's console joins, decided by role and relationship."""
    rooms = [user_room(user.id)]
    if user.role in (Role.VOLUNTEER, Role.COUNSELOR, Role.SUPERVISOR):
        rooms += [queue_room(centre_id) for centre_id in sorted(user.centre_ids)]
    if user.role in (Role.COUNSELOR, Role.SUPERVISOR):
        rooms += [reports_room(centre_id) for centre_id in sorted(user.centre_ids)]
    if user.role == Role.SUPERVISOR:
        rooms += [supervisors_room(centre_id) for centre_id in sorted(user.centre_ids)]
    if user.role == Role.COUNSELOR:
        rooms += [team_room(team_id) for team_id in sorted(team_ids(user))]
    if user.role == Role.HOSPITAL_LIAISON:
        rooms += [hospital_room(hospital_id)
                  for hospital_id in sorted(user.organisation_ids(OrgKind.HOSPITAL))]
    return rooms


def missed_events(rooms: list[str], last_event_id: int) -> list[ConsoleEvent]:
    """Events in ``rooms`` after ``last_event_id`` (and a short grace before it)."""
    anchor = db.scalar(select(ConsoleEvent.created_at).where(ConsoleEvent.id == last_event_id))
    since = anchor - REORDER_GRACE if anchor else utcnow() - CATCH_UP_WINDOW
    return list(db.scalars(select(ConsoleEvent).where(
        ConsoleEvent.room.in_(rooms),
        or_(ConsoleEvent.id > last_event_id, ConsoleEvent.created_at >= since))
        .order_by(ConsoleEvent.id).limit(CATCH_UP_LIMIT)))


def _identify() -> User | None:
    """The user of a valid Bearer token, or of a session cookie whose sign-in has not ended
    (``load_session_user``, which also sets ``g.user_session_id``)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(header[7:].strip(), note_use=True)
        db.commit()  # the token's last use, if noted
        return user
    return current_user._get_current_object() if current_user.is_authenticated else None


def _user() -> User | None:
    with _connected_lock:
        user_id = _connected.get(request.sid)
    user = db.get(User, user_id) if user_id else None
    return user if user is not None and user.disabled_at is None else None


@socketio.on("connect", namespace=NAMESPACE)
def _connect(_auth=None):
    user = _identify()
    if user is None or user.disabled_at is not None:
        db.rollback()
        return False
    for room in rooms_for(user):
        join_room(room)
    with _connected_lock:
        _connected[request.sid] = user.id
        if g.get("user_session_id") is not None:
            _session_of[request.sid] = g.user_session_id
    db.rollback()  # before the watcher's first read: on SQLite it waits for our lock
    _start_watcher(current_app._get_current_object())
    return True


@socketio.on("disconnect", namespace=NAMESPACE)
def _disconnect(*_reason):
    with _connected_lock:
        _connected.pop(request.sid, None)
        _session_of.pop(request.sid, None)


@socketio.on("catch_up", namespace=NAMESPACE)
def _catch_up(data=None):
    """Resend what this console missed since ``last_event_id`` of the records its user may
    read now; answers how many."""
    problem = _bad_id(data, "last_event_id", 0)
    user = _user() if problem is None else None
    if problem is not None or user is None:
        db.rollback()
        return {"ok": False, "resent": 0, **(problem or {})}
    readable: dict[tuple[str, int], bool] = {}
    events = [event for event in missed_events(rooms_for(user) + _watched_cases(),
                                               data["last_event_id"])
              if _may_read(user, subject(event.name, event.payload), readable)]
    db.rollback()
    for event in events:
        emit(event.name, {**event.payload, "event_id": event.id, "replayed": True})
    return {"ok": True, "resent": len(events)}


@socketio.on("watch_case", namespace=NAMESPACE)
def _watch_case(data=None):
    """Follow one case's changes (its page is open), if the user may see it."""
    from casework.models import Case
    problem = _bad_id(data, "case_id", 1)
    if problem is not None:
        return problem
    user = _user()
    case_id = data["case_id"]
    case = db.get(Case, case_id)
    allowed = user is not None and case is not None and can(user, VIEW, case)
    if user is not None and case is not None and not allowed:
        audit.record("access.denied", outcome=audit.DENIED, object_type="case",
                     object_id=case.id, actor=user,
                     changes={"path": {"new": f"{NAMESPACE} watch_case"}})
        db.commit()
    db.rollback()
    if allowed:
        join_room(case_room(case_id))
    return {"ok": allowed}


def _bad_id(data, field: str, low: int) -> dict | None:
    """The error answer when ``data[field]`` is not an id (at least ``low``), else None."""
    if not isinstance(data, dict):
        return refusal(_l("send an object with %(field)s", field=field),
                       fields=problems({field: _l("missing")}))
    value = data.get(field)
    # JSON true is not an id; nor is a number no id column holds
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_ID:
        return None
    return refusal(_l("invalid request"), fields=problems(
        {field: _l("a whole number from %(low)d to %(high)d", low=low, high=MAX_ID)}))


def _may_read(user: User, about: tuple[str, int] | None, known: dict) -> bool:
    """May ``user`` read the record an event is about (any event about none)?"""
    if about is None:
        return True
    if about not in known:
        record = db.get(RECORD_TYPES[about[0]], about[1])
        known[about] = record is not None and can(user, VIEW, record)
    return known[about]


def _watched_cases() -> list[str]:
    return [room for room in socketio.server.rooms(request.sid, namespace=NAMESPACE)
            if room.startswith("case:")]


def _start_watcher(app) -> None:
    """Once per web process, from its first console: the housekeeping loop."""
    with _connected_lock:
        if _watcher:
            return
        queued = app.config["REDIS_URL"] is not None
        _watcher.append(socketio.start_background_task(
            _housekeeping, app.extensions["crisisline.engine"],
            QUEUE_GRACE if queued else timedelta(0), app))


def _housekeeping(engine, grace: timedelta, app) -> None:
    """Disconnect disabled users' consoles within seconds, and take consoles out of the
    rooms of cases their users may no longer read; and send this process's consoles
    the logged events that did not reach it: without Redis, every event other processes
    (Celery workers, other web processes) logged; with Redis, those it lost, once they are
    ``grace`` old. It reads committed data through a session of its own, never a
    request's."""
    state = {"relayed_up_to": None, "last_check": 0.0}
    while True:
        socketio.sleep(RELAY_SECONDS)
        try:
            _housekeep_once(engine, grace, app, state)
        except Exception:  # the loop must outlive a database hiccup
            log.exception("console housekeeping failed")


def _housekeep_once(engine, grace: timedelta, app, state: dict) -> None:
    """One turn of the housekeeping loop (``state`` carries what the turns remember)."""
    checking = time.monotonic() - state["last_check"] >= DISABLED_CHECK_SECONDS
    with Session(engine) as session:
        if state["relayed_up_to"] is None:  # events logged before this process listened
            state["relayed_up_to"] = session.scalar(select(func.max(ConsoleEvent.id))) or 0
        else:
            state["relayed_up_to"] = relay_logged(session, state["relayed_up_to"], grace)
        if checking:
            state["last_check"] = time.monotonic()
            _drop_disabled_users(session)
    # only once that session has ended: on SQLite each transaction holds the one write lock
    # (BEGIN IMMEDIATE), and the access rules read through another session, which would
    # wait for this thread's own lock until the busy timeout, every request behind both
    if checking:
        _follow_access(app)


def relay_logged(session: Session, after_id: int, grace: timedelta = timedelta(0)) -> int:
    """Send this process's consoles the logged events at least ``grace`` old that it has
    not sent them (itself, or as they came through Redis); returns the newest id seen.

    A transaction can commit a smaller id after a larger one was seen, so the last
    ``REORDER_GRACE`` is looked at again; what was already sent is remembered. Each web
    process sends only to its own consoles (``ignore_queue``): the others sweep for theirs."""
    now = utcnow()
    query = select(ConsoleEvent).where(or_(
        ConsoleEvent.id > after_id, ConsoleEvent.created_at >= now - REORDER_GRACE - grace))
    if grace:  # younger ones are still on their way through Redis
        query = query.where(ConsoleEvent.created_at <= now - grace)
    events = session.scalars(query.order_by(ConsoleEvent.id).limit(2000)).all()
    for event in events:
        if sent_here.add(event.id):
            socketio.emit(event.name, {**event.payload, "event_id": event.id},
                          to=event.room, namespace=NAMESPACE, ignore_queue=True)
    return max([after_id, *(event.id for event in events)])


def _follow_access(app) -> None:
    """Leave the case rooms of consoles whose users may no longer read the case: a
    break-the-glass grant expired or was found unjustified, the case went to someone else.
    (The access rules read through the application's session, as a request would.)"""
    from casework.models import Case
    with _connected_lock:
        connected = dict(_connected)
    watching = {sid: [room for room in socketio.server.rooms(sid, namespace=NAMESPACE)
                      if room.startswith("case:")] for sid in connected}
    if not any(watching.values()):
        return
    with app.app_context():
        try:
            for sid, rooms in watching.items():
                user = db.get(User, connected[sid])
                for room in rooms:
                    case = db.get(Case, int(room.removeprefix("case:")))
                    if user is None or case is None or not can(user, VIEW, case):
                        socketio.server.leave_room(sid, room, namespace=NAMESPACE)
        finally:
            db.rollback()


def _drop_disabled_users(session: Session) -> None:
    """End the consoles of disabled users, and those opened with a session since ended
    (signed out)."""
    with _connected_lock:
        connected, sessions = dict(_connected), dict(_session_of)
    if not connected:
        return
    disabled = set(session.scalars(select(User.id).where(
        User.id.in_(set(connected.values())), User.disabled_at.is_not(None))))
    ended = set(session.scalars(select(UserSession.id).where(
        UserSession.id.in_(set(sessions.values())), UserSession.ended_at.is_not(None)))) \
        if sessions else set()
    for sid, user_id in connected.items():
        if user_id in disabled or sessions.get(sid) in ended:
            socketio.server.disconnect(sid, namespace=NAMESPACE)
            with _connected_lock:
                _connected.pop(sid, None)
                _session_of.pop(sid, None)
