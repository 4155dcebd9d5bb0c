"""Real-time pushes to the consoles, sent only once the transaction has committed.

Events (namespace ``/console``; every payload also carries ``event_id``, increasing):

===================  ==========================================  ============================
event                payload                                     rooms
===================  ==========================================  ============================
``queue.updated``    ``centre_id``                               ``queue:<centre>``
``contact.offered``  ``offer_id, contact_id, channel, expires_at``  ``user:<offered person>``
``contact.updated``  ``contact_id`` (+ ``message_id``,            ``user:<handler>``
                     ``transferred``)
``agent.status``     ``user_id, state``                          ``queue:<centre>``
``case.updated``     ``case_id, state``                          ``case:<id>``, ``user:<owner>``,
                                                                 ``team:<id>``,
                                                                 ``supervisors:<centre>``,
                                                                 ``hospital:<referred to>``
``alert.raised``     ``kind`` + ``case_id``, ``contact_id``,      ``user:<recipient>``,
                     ``school_report_id``, ``unit_id``,           ``supervisors:<centre>``
                     ``screening_warning_id`` or
                     ``watch_entry_id`` (or ``object_type`` for
                     break-the-glass)
``school_report.     ``school_report_id, status``                ``reports:<centre>``,
updated``                                                        ``user:<reporter>``
===================  ==========================================  ============================

Payloads carry ids and states, never a student's details: a console fetches what changed
through the access rules. The server, not the client, decides which rooms a connection
joins (:func:`crisisline.realtime.console.rooms_for`). With Redis configured, Flask-SocketIO
relays through it, so an event caused in any web process or Celery worker reaches consoles
on every web process; what Redis lost (it was down, or a process was not subscribed) each
web process sends from the event log a moment later. Without Redis (the embedded default)
the event log is the transport: each web process sends on the events other processes
logged (``console.relay_logged``).

A console hears only of records its user may read at that moment: an event names the record
it is about (:func:`subject`); rooms follow the access rules' relationships (a hospital's
only while the case is in transfer to it); a catch-up replays an event only if the user may
read its record now; a console leaves a case's room within seconds of losing access to it.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from socketio import RedisManager

from crisisline import redis_waits
from crisisline.database import db, on_commit
from crisisline.extensions import socketio

NAMESPACE = "/console"
EVENTS = ("queue.updated", "contact.offered", "contact.updated", "agent.status",
          "case.updated", "alert.raised", "school_report.updated")


#: the payload keys that name the record an event is about, by event; the others are about
#: no record (a queue, a person's presence) or the recipient's own (an offer made to them)
SUBJECTS = {"case.updated": ("case_id",),
            "alert.raised": ("case_id", "contact_id", "school_report_id"),
            "contact.updated": ("contact_id",), "school_report.updated": ("school_report_id",)}
_SUBJECT_TYPES = {"case_id": "case", "contact_id": "contact",
                  "school_report_id": "school_report"}


def subject(event: str, payload: dict[str, Any]) -> tuple[str, int] | None:
    """(record type, id) of the record ``event`` is about, if any."""
    for key in SUBJECTS.get(event, ()):
        if isinstance(payload.get(key), int):
            return _SUBJECT_TYPES[key], payload[key]
    return None


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def queue_room(centre_id: int) -> str:
    return f"queue:{centre_id}"


def supervisors_room(centre_id: int) -> str:
    return f"supervisors:{centre_id}"


def reports_room(centre_id: int) -> str:
    """The centre's counselors and supervisors: the school reports it handles."""
    return f"reports:{centre_id}"


def team_room(team_id: int) -> str:
    return f"team:{team_id}"


def hospital_room(hospital_id: int) -> str:
    return f"hospital:{hospital_id}"


def case_room(case_id: int) -> str:
    return f"case:{case_id}"


def emit_after_commit(event: str, payload: dict[str, Any], *, room: str) -> None:
    """Log a console event in this transaction and push it to ``room`` after commit; a
    rollback drops both."""
    if event not in EVENTS:
        raise ValueError(f"undocumented console event {event!r}")
    from crisisline.realtime.models import ConsoleEvent
    logged = ConsoleEvent(name=event, room=room, payload=payload)
    db.add(logged)  # written with the transaction's other events, in one statement

    def send():
        sent_here.add(logged.id)
        socketio.emit(event, {**payload, "event_id": logged.id}, to=room, namespace=NAMESPACE)
    on_commit(send)


class _Recent:
    """The last few thousand ids, to remember what this process has already sent."""

    def __init__(self, size: int = 5000):
        self._ids: deque[int] = deque(maxlen=size)
        self._set: set[int] = set()
        self._lock = threading.Lock()

    def add(self, event_id: int) -> bool:
        """Remember ``event_id``; False if it was remembered already (checked and added at
        once: the Redis listener and the housekeeping loop are different threads)."""
        with self._lock:
            if event_id in self._set:
                return False
            if len(self._ids) == self._ids.maxlen:
                self._set.discard(self._ids[0])
            self._ids.append(event_id)
            self._set.add(event_id)
            return True

    def __contains__(self, event_id: int) -> bool:
        with self._lock:
            return event_id in self._set


sent_here = _Recent()  # the console events this process has sent its consoles


class ConsoleQueue(RedisManager):
    """Flask-SocketIO's Redis message queue, remembering which console events reached this
    process through it.

    Redis pub/sub keeps nothing: an event published while Redis is down, or while this
    process's subscription is reconnecting (python-socketio waits up to a minute between
    attempts), never reaches this process. The housekeeping loop sends such events from the
    event log instead (``console.relay_logged``); this keeps one event from being sent twice
    when its copy through Redis turns up after all.

    A frozen or unreachable Redis must not hang the request that emits (python-socketio
    sends to this process's own clients first, then publishes for the other processes):
    publishing waits at most ``redis_waits.COMMAND_TIMEOUT``, is not retried, and after a
    failure is skipped for a few seconds (``redis_waits.pause``). What is skipped is a
    console event the other web processes send from the event log once it is
    ``QUEUE_GRACE`` old, or a push to a student's chat page, which is in the transcript the
    page shows when it is loaded. The subscription uses a connection of its own without a
    read timeout (it waits for messages as long as none comes)."""

    def __init__(self, url: str, channel: str):
        super().__init__(url, channel=channel, redis_options=redis_waits.client_options())

    def _redis_connect(self):
        super()._redis_connect()  # self.redis, for publishing: timeouts on every command
        listener = self._get_redis_module().Redis.from_url(
            self.redis_url, **redis_waits.listener_options())
        self.pubsub = listener.pubsub(ignore_subscribe_messages=True)

    def _publish(self, data):
        if redis_waits.pause.active():
            return None
        try:
            if not self.connected:
                self._redis_connect()
            return self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as error:  # noqa: BLE001  (Redis down, frozen, refusing: skipped)
            self.connected = False
            redis_waits.pause.failed("publishing to the Socket.IO queue", error)
            return None

    def _handle_emit(self, message):
        data = message.get("data")
        payload = data[0] if isinstance(data, list) and len(data) == 1 else None
        if message.get("host_id") != self.host_id and message.get("namespace") == NAMESPACE \
                and isinstance(payload, dict) and isinstance(payload.get("event_id"), int) \
                and not payload.get("replayed"):  # a catch-up answer is for one console only
            if not sent_here.add(payload["event_id"]):
                return  # sent here from the event log already
        super()._handle_emit(message)


def last_event_id() -> int:
    """The newest console event's id: a page rendered now is current up to it."""
    from sqlalchemy import func, select

    from crisisline.realtime.models import ConsoleEvent
    return db.scalar(select(func.max(ConsoleEvent.id))) or 0
