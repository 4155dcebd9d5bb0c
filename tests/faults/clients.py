"""The hotline's clients in the fault tests: Twilio's signed webhooks, the consoles, a
browser signing in, and a look at the database the processes share."""
from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ElementTree
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from crisisline.config import DEMO_HOTLINE
from crisisline.realtime import NAMESPACE
from crisisline.realtime.models import ConsoleEvent
from hotline.models import Offer

DEMO_PASSWORD = "demo-password-1"
ACCOUNT = "AC" + "0" * 32
CALM_TEXT = "你好，请问现在有人在吗？"


def seeded_demo(crisisline) -> tuple[str, str]:
    """The demo data on the command's database: (demo_volunteer's API token, the Twilio
    auth token the server checks signatures with)."""
    crisisline("init")
    crisisline("seed-demo", "--password", DEMO_PASSWORD)
    token = crisisline("users", "token", "demo_volunteer").stdout.strip().splitlines()[-1]
    return token, (crisisline.instance_path / "twilio_demo_token").read_text().strip()


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


def badly_answered(answers: list[Answer], within: float) -> list[str]:
    """What was wrong with the answers: not 200, not the expected TwiML, or not answered
    in less than ``within`` seconds."""
    problems = []
    for answer in answers:
        if answer.status != 200:
            problems.append(f"{answer.path}: HTTP {answer.status} after {answer.seconds:.1f} s:"
                            f" {answer.body[:200]}")
        elif answer.seconds >= within:
            problems.append(f"{answer.path}: took {answer.seconds:.1f} s")
        elif not expected_verbs(answer) <= answer.verbs():
            problems.append(f"{answer.path}: no TwiML with {expected_verbs(answer)}: "
                            f"{answer.body[:200]}")
    return problems


# -- consoles and browsers ----------------------------------------------------------------

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


def login_form(http: requests.Session, url: str) -> str:
    """The login page's CSRF token (the page also sets the session it belongs to)."""
    page = http.get(f"{url}/login", timeout=10).text
    return page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def browser_session(url: str, username: str) -> str:
    """A signed-in session cookie, through the login form."""
    http = requests.Session()
    csrf = login_form(http, url)
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


def first_offer(session, volunteer_id: int, seconds: float):
    """The volunteer's first offer, looked for until one is made or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with session() as db:
            offer = db.scalars(select(Offer).where(Offer.user_id == volunteer_id)
                               .order_by(Offer.id)).first()
        if offer is not None:
            return offer
        time.sleep(0.2)
    return None


def unheard(console: Console, events: dict[int, ConsoleEvent], seconds: float) -> list:
    """The events ``console`` has not heard after waiting up to ``seconds``, by name."""
    if console.hears_all(set(events), seconds):
        return []
    return sorted((events[i].name, i) for i in set(events) - console.event_ids())
