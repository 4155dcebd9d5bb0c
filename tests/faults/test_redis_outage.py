"""Issue #6: Redis stops for 30 s while the hotline is taking calls and texts.

Webhooks keep answering with valid TwiML, quickly; nothing is lost: every call and text is
in the database and in the queue, the queue moves again once Redis is back, and the
consoles hear every event of their rooms (live, or caught up on by event id).

The outage is real: ``crisisline serve`` and ``crisisline worker`` (with its scheduler) run
as separate processes on PostgreSQL, against a ``redis-server`` of this test's own on a free
loopback port, which is stopped and started again on the same port (with nothing saved, as
a crashed Redis loses what it held). The shared Redis other tests use is never touched.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from crisisline.accounts.models import Organisation, User
from crisisline.config import DEMO_HOTLINE
from crisisline.realtime import NAMESPACE, user_room
from crisisline.realtime.console import rooms_for
from crisisline.realtime.models import ConsoleEvent
from hotline.models import Channel, Contact, ContactMessage, ContactStatus, Offer, Priority
from tests.conftest import needs_postgres

OUTAGE_SECONDS = 30  # as long as the issue says Redis is gone
WEBHOOK_SECONDS = 3.0  # the most one webhook may take, Redis or no Redis
RECOVERY_SECONDS = 60  # for the queue to move again once Redis is back
DELIVERY_SECONDS = 15  # for a console to hear what it missed, once the queue moved
DEMO_PASSWORD = "demo-password-1"
ACCOUNT = "AC" + "0" * 32
CALM_TEXT = "你好，请问现在有人在吗？"

pytestmark = needs_postgres


# -- processes ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Output:
    """A background process's output, read as it comes (a full pipe would stall it)."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        try:
            for line in iter(stream.readline, ""):
                self.lines.append(line)
        except (OSError, ValueError):  # closed as the process was stopped
            pass

    def wait_for(self, needle: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(needle in line for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return False

    def tail(self, count: int = 40) -> str:
        return "".join(self.lines[-count:])


def stop(process: subprocess.Popen, seconds: float = 20) -> None:
    """End a process started in a session of its own, and everything it started."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=seconds)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def port_to_return_to() -> int:
    """A free port below the range the system hands out for outgoing connections, so none
    of them takes it while Redis is away."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            lowest = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        lowest = 32768
    for port in random.sample(range(max(1024, lowest - 12000), lowest), 50):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class PrivateRedis:
    """A ``redis-server`` of the test's own, that it may stop and start on the same port."""

    def __init__(self, binary: str, folder):
        self.binary, self.folder = binary, folder
        self.port = port_to_return_to()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.answers():
            assert self.process.poll() is None, f"redis-server on port {self.port} exited"
            assert time.monotonic() < deadline, f"redis-server on port {self.port} is silent"
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as link:
                link.sendall(b"PING\r\n")
                return link.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, seconds=10)
            self.process = None
        assert not listening(self.port), "the private Redis still listens"


# -- Twilio's side ------------------------------------------------------------------------

@dataclass
class Answer:
    path: str
    status: int
    seconds: float
    body: str

    def verbs(self) -> set[str]:
        """The TwiML verbs of the answer: none unless it is XML under <Response>."""
        try:
            root = ElementTree.fromstring(self.body)
        except ElementTree.ParseError:
            return set()
        if root.tag != "Response":
            return set()
        return {element.tag for element in root.iter()} - {"Response"}


class Twilio:
    """Twilio's webhooks, signed for the server's public URL as Twilio signs them."""

    def __init__(self, url: str, token: str):
        self.url, self.validator = url, RequestValidator(token)
        self.http = requests.Session()
        self.answers: list[Answer] = []
        self.calls: list[str] = []  # CallSids
        self.texts: list[str] = []  # MessageSids

    def post(self, path: str, params: dict) -> Answer:
        signature = self.validator.compute_signature(self.url + path, params)
        started = time.monotonic()
        try:
            response = self.http.post(self.url + path, data=params, timeout=15,
                                      headers={"X-Twilio-Signature": signature})
            status, body = response.status_code, response.text
        except requests.RequestException as error:  # a hung or refused webhook
            status, body = 0, f"{error.__class__.__name__}: {error}"
        answer = Answer(path, status, time.monotonic() - started, body)
        self.answers.append(answer)
        return answer

    def call(self, *, press_1: bool = False) -> str:
        """A call dials in and answers the greeting menu (1: in danger now)."""
        sid, caller = "CA" + uuid.uuid4().hex, self.number()
        params = {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "To": DEMO_HOTLINE,
                  "Caller": caller, "Called": DEMO_HOTLINE, "Direction": "inbound",
                  "ApiVersion": "2010-04-01", "CallStatus": "ringing"}
        self.calls.append(sid)
        self.post("/twilio/voice/incoming", params)
        self.post("/twilio/voice/menu", {**params, "CallStatus": "in-progress",
                                         **({"Digits": "1"} if press_1 else {})})
        return sid

    def text(self) -> str:
        """A first text from a new number (a conversation of its own)."""
        sid = "SM" + uuid.uuid4().hex
        self.texts.append(sid)
        self.post("/twilio/sms/incoming", {
            "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": self.number(),
            "To": DEMO_HOTLINE, "Body": CALM_TEXT, "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"})
        return sid

    @staticmethod
    def number() -> str:
        return "+86137" + str(uuid.uuid4().int)[:8]


def expected_verbs(answer: Answer) -> set[str]:
    """What the normal path answers: the greeting menu, the queue, the text's receipt."""
    return {"/twilio/voice/incoming": {"Gather", "Say", "Redirect"},
            "/twilio/voice/menu": {"Enqueue"},
            "/twilio/sms/incoming": {"Message"}}[answer.path]


def badly_answered(answers: list[Answer]) -> list[str]:
    problems = []
    for answer in answers:
        if answer.status != 200:
            problems.append(f"{answer.path}: HTTP {answer.status} after {answer.seconds:.1f} s:"
                            f" {answer.body[:200]}")
        elif answer.seconds >= WEBHOOK_SECONDS:
            problems.append(f"{answer.path}: took {answer.seconds:.1f} s")
        elif not expected_verbs(answer) <= answer.verbs():
            problems.append(f"{answer.path}: no TwiML with {expected_verbs(answer)}: "
                            f"{answer.body[:200]}")
    return problems


# -- consoles -----------------------------------------------------------------------------

class Console:
    """A console as ``console.js`` keeps one: it reconnects by itself and, on every
    (re)connection, asks for what it missed since the last event id it saw."""

    def __init__(self, url: str, last_event_id: int, *, cookie: str | None = None,
                 token: str | None = None):
        import socketio
        self.url, self.last_event_id = url, last_event_id
        self.received: list[tuple[str, dict]] = []
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.5,
                                      reconnection_delay_max=2,
                                      websocket_extra_options={"origin": url})
        self.client.on("*", self._heard, namespace=NAMESPACE)
        self.client.on("connect", self._connected, namespace=NAMESPACE)
        self.headers = {}
        if cookie is not None:
            self.headers["Cookie"] = f"session={cookie}"
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"

    def connect(self) -> None:
        self.client.connect(self.url, namespaces=[NAMESPACE], headers=self.headers,
                            transports=["websocket"], wait_timeout=10)

    def close(self) -> None:
        # websocket-client waits 3 s for a closing frame the development server never sends
        ws = getattr(self.client.eio, "ws", None)
        if ws is not None:
            close = ws.close
            ws.close = lambda *args, **kwargs: close(timeout=0.2)
        self.client.disconnect()

    def _connected(self) -> None:
        self.client.emit("catch_up", {"last_event_id": self.last_event_id},
                         namespace=NAMESPACE)

    def _heard(self, event: str, payload) -> None:
        self.received.append((event, payload))
        if isinstance(payload, dict) and isinstance(payload.get("event_id"), int):
            self.last_event_id = max(self.last_event_id, payload["event_id"])

    def event_ids(self) -> set[int]:
        return {payload.get("event_id") for _, payload in list(self.received)
                if isinstance(payload, dict)}

    def hears_all(self, ids: set[int], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not ids <= self.event_ids():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def browser_session(url: str, username: str) -> str:
    """A signed-in session cookie, through the login form."""
    http = requests.Session()
    page = http.get(f"{url}/login", timeout=10).text
    csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = http.post(f"{url}/login", timeout=10, allow_redirects=False, data={
        "csrf_token": csrf, "username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{username} could not sign in"
    return http.cookies.get("session")


# -- the database -------------------------------------------------------------------------

@contextmanager
def database(url: str):
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        yield lambda: Session(engine, expire_on_commit=False)
    finally:
        engine.dispose()


def newest_event_id(session: Session) -> int:
    return session.scalar(select(func.max(ConsoleEvent.id))) or 0


def events_in(session: Session, rooms: list[str], after_id: int) -> dict[int, ConsoleEvent]:
    return {event.id: event for event in session.scalars(select(ConsoleEvent).where(
        ConsoleEvent.room.in_(rooms), ConsoleEvent.id > after_id))}


# -- the test -----------------------------------------------------------------------------

@pytest.fixture
def private_redis(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH: the outage needs a Redis of its own to stop")
    folder = tmp_path / "redis"
    folder.mkdir()
    redis = PrivateRedis(binary, folder)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def test_a_30_second_redis_outage_loses_no_call_text_or_console_event(
        crisisline, cli_database_url, private_redis):
    crisisline("init")
    crisisline("seed-demo", "--password", DEMO_PASSWORD)
    token = crisisline("users", "token", "demo_volunteer").stdout.strip().splitlines()[-1]
    twilio_token = (crisisline.instance_path / "twilio_demo_token").read_text().strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"CRISISLINE_REDIS_URL": private_redis.url, "CRISISLINE_PUBLIC_URL": url}

    with ExitStack() as cleanup, database(cli_database_url) as session:
        worker = crisisline.start("worker", "--concurrency=1", env=env)
        cleanup.callback(stop, worker)
        worker_output = Output(worker)
        server = crisisline.start("serve", "--port", str(port), env=env)
        cleanup.callback(stop, server)
        server_output = Output(server)
        assert worker_output.wait_for("ready", 60), worker_output.tail()
        assert server_output.wait_for("serving", 60), server_output.tail()
        deadline = time.monotonic() + 20
        while not listening(port):  # listening a moment after it says so
            assert time.monotonic() < deadline, server_output.tail()
            time.sleep(0.1)

        with session() as db:
            supervisor = db.scalar(select(User).where(User.username == "demo_supervisor"))
            rooms = rooms_for(supervisor)
            centre_id = db.scalar(select(Organisation.id).where(
                Organisation.hotline_number == DEMO_HOTLINE))
            volunteer_id = db.scalar(select(User.id).where(User.username == "demo_volunteer"))
            connected_at = newest_event_id(db)  # as a console page rendered now would be
        supervisor_console = Console(url, connected_at,
                                     cookie=browser_session(url, "demo_supervisor"))
        volunteer_console = Console(url, connected_at, token=token)
        for console in (supervisor_console, volunteer_console):
            console.connect()
            cleanup.callback(console.close)
            assert console.client.connected

        twilio = Twilio(url, twilio_token)
        # before: the hotline works, and the supervisor hears of its queue
        twilio.call()
        twilio.text()
        with session() as db:
            before = set(events_in(db, rooms, connected_at))
        assert before and supervisor_console.hears_all(before, seconds=10)

        # Redis stops; calls and texts keep coming, one or so a second, and a volunteer
        # signs in meanwhile
        private_redis.stop()
        outage_began = time.monotonic()
        sent_before = len(twilio.answers)
        in_danger = twilio.call(press_1=True)  # someone in danger now, first of all
        signed_in = None
        for second in range(1, OUTAGE_SECONDS):
            time.sleep(max(0.0, outage_began + second - time.monotonic()))
            if second % 2:
                twilio.text()
            else:
                twilio.call()
            if second == OUTAGE_SECONDS // 3:
                started = time.monotonic()
                signed_in = requests.post(f"{url}/api/presence/sign_in", timeout=15,
                                          headers={"Authorization": f"Bearer {token}"})
                signing_in_took = time.monotonic() - started
        time.sleep(max(0.0, outage_began + OUTAGE_SECONDS - time.monotonic()))
        outage_answers = twilio.answers[sent_before:]
        private_redis.start()  # back on the same port, empty
        back_at = time.monotonic()

        assert badly_answered(twilio.answers) == [], \
            f"{len(outage_answers)} webhooks during the outage\n{server_output.tail()}"
        assert signed_in is not None and signed_in.status_code == 200, signed_in.text
        assert signing_in_took < WEBHOOK_SECONDS

        # nothing is lost: every call and text is stored, in the queue of the number dialled
        with session() as db:
            calls = {c.twilio_sid: c for c in db.scalars(
                select(Contact).where(Contact.twilio_sid.in_(twilio.calls)))}
            texts = {m.twilio_sid: m for m in db.scalars(
                select(ContactMessage).where(ContactMessage.twilio_sid.in_(twilio.texts)))}
            assert set(calls) == set(twilio.calls) and set(texts) == set(twilio.texts)
            text_contacts = db.scalars(select(Contact).where(
                Contact.id.in_([m.contact_id for m in texts.values()]))).all()
        assert len(text_contacts) == len(twilio.texts)  # each its own conversation
        assert {c.channel for c in calls.values()} == {Channel.VOICE}
        assert {c.channel for c in text_contacts} == {Channel.SMS}
        for contact in [*calls.values(), *text_contacts]:
            assert contact.centre_id == centre_id
            assert contact.status in (ContactStatus.QUEUED, ContactStatus.OFFERED), \
                (contact.channel, contact.status)
        assert calls[in_danger].priority == Priority.IMMINENT

        # the queue moves again: the volunteer is offered the caller in danger first
        offer = None
        while offer is None and time.monotonic() - back_at < RECOVERY_SECONDS:
            time.sleep(0.2)
            with session() as db:
                offer = db.scalars(select(Offer).where(Offer.user_id == volunteer_id)
                                   .order_by(Offer.id)).first()
        assert offer is not None, \
            (f"no offer within {RECOVERY_SECONDS} s of Redis returning\n"
             f"worker:\n{worker_output.tail()}\nserver:\n{server_output.tail()}")
        assert offer.contact_id == calls[in_danger].id

        # ...and the consoles hear all of it: the volunteer its offer, the supervisor every
        # event of its rooms since it connected, the outage's and the worker's since
        with session() as db:
            [offered] = [event.id for event in db.scalars(select(ConsoleEvent).where(
                ConsoleEvent.name == "contact.offered",
                ConsoleEvent.room == user_room(volunteer_id)))
                if event.payload["offer_id"] == offer.id]
            supervisors = events_in(db, rooms, connected_at)
        assert volunteer_console.hears_all({offered}, DELIVERY_SECONDS), \
            f"the volunteer never heard of its offer\nserver:\n{server_output.tail()}"
        heard = supervisor_console.hears_all(set(supervisors), DELIVERY_SECONDS)
        missing = sorted((supervisors[i].name, i) for i in
                         set(supervisors) - supervisor_console.event_ids())
        assert heard, (f"the supervisor never heard {len(missing)} of {len(supervisors)} "
                       f"events: {missing[:10]}\nserver:\n{server_output.tail()}")
        since_the_outage = [e for e in supervisors.values() if e.id > max(before)]
        assert len(since_the_outage) >= OUTAGE_SECONDS  # each call and text changed the queue
        assert {"user_id": volunteer_id, "state": "offered"} in \
            [e.payload for e in since_the_outage if e.name == "agent.status"]  # the worker's

    result = crisisline("audit", "verify", check=False)
    assert result.returncode == 0, result.stderr
