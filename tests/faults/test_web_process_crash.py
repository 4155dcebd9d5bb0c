"""Fault (issue #6): a web process killed in the middle of a webhook burst.

Two ``crisisline serve`` processes share one PostgreSQL database and one Redis behind a load
balancer, as in production, with a worker for the routing sent after a caller joins the
queue. A burst of signed Twilio calls is spread across both processes, and one of them is
killed (SIGKILL, its whole process group) in the middle of it.

The test plays Twilio. Each call posts its incoming webhook and then, unless the caller
hangs up in the greeting, its menu webhook. A webhook that fails (connection refused or
reset, a timeout, a 5xx) is posted again, and the balancer hands it to the process that is
still alive. A slow webhook is sometimes delivered twice at once: Twilio retried it and the
retry reached the other process while the first was still being answered. Afterwards the
status callbacks arrive (some of them twice at once), all at the surviving process.

What a deployment must guarantee then:

- every call has exactly one contact: nothing is lost with the killed process, no retry
  makes a second one, and every replay had one effect (one audit entry per change);
- a live process answers every webhook, replays included, with valid TwiML and never with a
  5xx (Twilio would send the caller to the Fallback URL, away from this centre);
- the status callbacks of calls the killed process took in are applied by the survivor;
- the audit chain is intact, and no contact is left half-way: still in the greeting menu,
  queued with an end time, or ended without one.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from crisisline.audit.models import AuditEntry
from crisisline.config import DEMO_HOTLINE
from hotline.models import Contact, ContactStatus, Priority
from tests.conftest import TEST_REDIS_URL, needs_postgres, needs_redis

pytestmark = [needs_postgres, needs_redis]

PUBLIC_URL = "https://hotline.example.cn"  # what Twilio calls (the balancer), and signs
ACCOUNT = "AC" + "6" * 32
AUTH_TOKEN = "0123456789abcdef" * 2
CALLS = 200
KILL_AFTER = 60  # calls fully answered when process A is killed
THREADS = 12  # Twilio's concurrent deliveries
TWILIO_TIMEOUT = 15.0  # seconds Twilio waits for a webhook's answer
ATTEMPTS = 3  # the delivery and Twilio's retries
BURST_SECONDS = 90.0  # the whole burst, bounded
ENDINGS = ("completed", "no-answer", "canceled")


# -- the processes ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Running:
    """A background ``crisisline`` process, its output read as it comes (a full pipe would
    stall it) and kept for the failure report."""

    def __init__(self, name: str, process: subprocess.Popen, url: str | None = None):
        self.name, self.process, self.url = name, process, url
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def says(self, needle: str, seconds: float = 60.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if any(needle in line for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return any(needle in line for line in list(self.lines))

    def listening(self, seconds: float = 30.0) -> bool:
        port = int(self.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return True
            time.sleep(0.1)
        return False

    def settle(self, seconds: float = 15.0) -> None:
        """Wait (bounded) until a worker has run every task it took, so that none is put
        back on the shared broker for another test's worker when this one stops."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            lines = list(self.lines)
            taken = sum("] received" in line for line in lines)
            if taken == sum(" succeeded in " in line or " raised " in line for line in lines):
                return
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, the whole process group: nothing gets to finish or clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (a worker finishes its task), then SIGKILL for what is left of the group."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group ended with its leader
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        self.process.stdout.close()

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.name} ---\n" + "".join(self.lines[-lines:])


# -- Twilio's side ------------------------------------------------------------------------

@dataclass
class Plan:
    """One caller: where the balancer sends them first and what they do."""

    index: int
    process: str  # "A" or "B"
    twice: bool  # each webhook of the call delivered twice at once (a retried slow one)
    digits: str | None  # pressed in the greeting menu
    hangs_up: str | None  # None (stays in the queue), "in_greeting" or "waiting"
    ending: str | None = None  # the status callback's CallStatus
    sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)

    @property
    def caller(self) -> str:
        return f"+861770{self.index:07d}"

    def params(self, **extra) -> dict:
        return {"CallSid": self.sid, "AccountSid": ACCOUNT, "From": self.caller,
                "To": DEMO_HOTLINE, "Caller": self.caller, "Called": DEMO_HOTLINE,
                "Direction": "inbound", "ApiVersion": "2010-04-01", **extra}


def plans() -> list[Plan]:
    made = []
    for index in range(CALLS):
        turn = index // 2
        hangs_up = (None, "in_greeting", "waiting")[turn % 3]
        made.append(Plan(index=index, process="AB"[index % 2], twice=turn % 5 == 0,
                         digits={1: "1", 2: "2"}.get(index % 7),
                         hangs_up=hangs_up,
                         ending=ENDINGS[turn % len(ENDINGS)] if hangs_up else None))
    return made


@dataclass
class Attempt:
    sid: str
    path: str
    process: str
    status: int | None  # None: no answer at all
    problem: str = ""
    body: str = ""


class Twilio:
    """Signs webhooks for the public URL and delivers them through the balancer: a delivery
    that fails is retried, and the retry reaches a process that is alive."""

    def __init__(self, processes: dict[str, Running]):
        self.processes = processes
        self.validator = RequestValidator(AUTH_TOKEN)
        self.down: set[str] = set()  # processes the balancer saw failing
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()

    def deliver(self, path: str, params: dict, process: str, twice: bool = False
                ) -> list[Attempt]:
        """The final attempt of each delivery (two when delivered twice at once)."""
        if not twice:
            return [self._with_retries(path, params, process)]
        other = "B" if process == "A" else "A"
        together = threading.Barrier(2)
        finals: list[Attempt] = []

        def send(target: str) -> None:
            together.wait()
            finals.append(self._with_retries(path, params, target))
        second = threading.Thread(target=send, args=(other,))
        second.start()
        send(process)
        second.join()
        return finals

    def _with_retries(self, path: str, params: dict, process: str) -> Attempt:
        for _ in range(ATTEMPTS):
            attempt = self._post(path, params, process)
            if attempt.status is not None and attempt.status < 500:
                return attempt
            with self.lock:
                if attempt.status is None:
                    self.down.add(process)
                alive = [name for name in self.processes if name not in self.down]
            process = next((name for name in alive if name != process),
                           alive[0] if alive else process)
        return attempt

    def _post(self, path: str, params: dict, process: str) -> Attempt:
        signature = self.validator.compute_signature(PUBLIC_URL + path, params)
        try:
            response = requests.post(self.processes[process].url + path, data=params,
                                     headers={"X-Twilio-Signature": signature},
                                     timeout=TWILIO_TIMEOUT)
            attempt = Attempt(params["CallSid"], path, process, response.status_code,
                              body=response.text)
        except requests.RequestException as error:
            attempt = Attempt(params["CallSid"], path, process, None,
                              problem=f"{error.__class__.__name__}: {error}")
        with self.lock:
            self.attempts.append(attempt)
        return attempt


def is_greeting(body: str) -> bool:
    """The greeting's TwiML: a one-digit menu that leads on to /twilio/voice/menu."""
    response = ElementTree.fromstring(body)
    gather = response.find("Gather")
    return (response.tag == "Response" and gather is not None
            and gather.get("numDigits") == "1" and gather.get("action") == "/twilio/voice/menu"
            and "请按1" in (gather.findtext("Say") or "")
            and response.findtext("Redirect") == "/twilio/voice/menu")


def is_queue(body: str) -> bool:
    """The menu's TwiML: the caller is held in Twilio's queue with the hold message."""
    response = ElementTree.fromstring(body)
    enqueue = response.find("Enqueue")
    return (response.tag == "Response" and enqueue is not None
            and enqueue.text == "crisisline" and enqueue.get("waitUrl") == "/twilio/voice/wait")


# -- the test -----------------------------------------------------------------------------

def test_a_web_process_killed_mid_burst_loses_no_call_and_the_survivor_takes_the_rest(
        crisisline, cli_database_url):
    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-1")
    env = {"CRISISLINE_REDIS_URL": TEST_REDIS_URL, "CRISISLINE_PUBLIC_URL": PUBLIC_URL,
           "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "CRISISLINE_TWILIO_TRANSPORT": "record"}
    started: list[Running] = []
    try:
        for name in "AB":
            url = f"http://127.0.0.1:{free_port()}"
            started.append(Running(name, crisisline.start(
                "serve", "--port", url.rsplit(":", 1)[1], env=env), url))
        started.append(Running("worker", crisisline.start(
            "worker", "--no-beat", "--concurrency=1", env=env)))
        web_a, web_b, worker = started
        assert web_a.listening() and web_b.listening(), web_a.tail() + web_b.tail()
        assert worker.says("ready"), worker.tail()

        calls = plans()
        twilio = Twilio({"A": web_a, "B": web_b})
        finals: dict[str, dict[str, list[Attempt]]] = {plan.sid: {} for plan in calls}
        answered, counting = Counter(), threading.Lock()

        def place(plan: Plan) -> None:
            sid = plan.sid
            finals[sid]["incoming"] = twilio.deliver(
                "/twilio/voice/incoming", plan.params(CallStatus="ringing"), plan.process,
                plan.twice)
            if plan.hangs_up != "in_greeting":
                digits = {"Digits": plan.digits} if plan.digits else {}
                finals[sid]["menu"] = twilio.deliver(
                    "/twilio/voice/menu", plan.params(CallStatus="in-progress", **digits),
                    plan.process, plan.twice)
            with counting:
                answered["calls"] += 1

        # the burst; process A dies once KILL_AFTER calls were answered
        pool = ThreadPoolExecutor(THREADS)
        try:
            placed = [pool.submit(place, plan) for plan in calls]
            deadline = time.monotonic() + BURST_SECONDS
            while answered["calls"] < KILL_AFTER and time.monotonic() < deadline:
                time.sleep(0.005)
            web_a.kill()
            killed_after = answered["calls"]
            for future in placed:
                future.result(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        assert KILL_AFTER <= killed_after < CALLS, "the kill did not land mid-burst"

        # Twilio's side: no live process answered a 5xx (the caller would be sent to the
        # Fallback URL); deliveries failed only at the dead process, and their retries, like
        # every other webhook, were answered in the end with valid TwiML
        server_errors = [(a.process, a.status, a.path) for a in twilio.attempts
                         if a.status is not None and a.status >= 500]
        assert server_errors == [], web_a.tail() + web_b.tail()
        failed = [a for a in twilio.attempts if a.status is None]
        assert failed, "no delivery failed: process A died with nothing in flight"
        assert {a.process for a in failed} == {"A"}, [(a.process, a.problem) for a in failed]
        for plan in calls:
            for final in finals[plan.sid]["incoming"]:
                assert final.status == 200 and is_greeting(final.body), (plan, final)
            for final in finals[plan.sid].get("menu", []):
                assert final.status == 200 and is_queue(final.body), (plan, final)

        taken_in_by_a = {plan.sid for plan in calls if any(
            a.process == "A" and a.status == 200 for a in finals[plan.sid]["incoming"])}
        refused = sum("refused" in a.problem.lower() for a in failed)
        print(f"A killed after {killed_after} of {CALLS} calls, having taken in "
              f"{len(taken_in_by_a)}; {len(failed)} deliveries to A failed and were retried "
              f"({len(failed) - refused} cut off in flight, {refused} refused)")

        # the calls end: their status callbacks all reach the survivor, some twice at once
        hanging_up = [plan for plan in calls if plan.hangs_up]
        assert any(p.sid in taken_in_by_a for p in hanging_up if p.hangs_up == "in_greeting")
        assert any(p.sid in taken_in_by_a for p in hanging_up if p.hangs_up == "waiting")
        pool = ThreadPoolExecutor(THREADS)
        try:
            endings = list(pool.map(lambda plan: twilio.deliver(
                "/twilio/voice/status", plan.params(CallStatus=plan.ending, CallDuration="31"),
                "B", twice=plan.twice and plan.index % 3 == 0), hanging_up, timeout=60))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for plan, finals_of_call in zip(hanging_up, endings):
            assert [(a.process, a.status) for a in finals_of_call] == \
                [("B", 204)] * len(finals_of_call), (plan, finals_of_call)

        # the database: one contact per call, each where its call left it
        engine = create_engine(cli_database_url.replace("postgresql://",
                                                        "postgresql+psycopg://", 1))
        try:
            with Session(engine) as session:
                contacts = session.scalars(select(Contact).where(
                    Contact.twilio_sid.in_([plan.sid for plan in calls]))).all()
                audited = Counter(session.execute(
                    select(AuditEntry.object_id, AuditEntry.action).where(
                        AuditEntry.object_type == "contact",
                        AuditEntry.object_id.in_([str(c.id) for c in contacts]))).all())
        finally:
            engine.dispose()
        by_sid = {contact.twilio_sid: contact for contact in contacts}
        assert len(contacts) == len(by_sid) == CALLS, \
            f"{CALLS - len(by_sid)} call(s) lost, {len(contacts) - len(by_sid)} duplicated"

        for plan in calls:
            contact = by_sid[plan.sid]
            found = (contact.status, contact.queued_at is not None, contact.ended_at is not None)
            if plan.hangs_up is None:
                assert found == (ContactStatus.QUEUED, True, False), (plan, found)
                assert contact.priority == (Priority.IMMINENT if plan.digits == "1"
                                            else Priority.NORMAL), plan
                assert contact.language == ("en" if plan.digits == "2" else "zh"), plan
            elif plan.hangs_up == "waiting":
                assert found == (ContactStatus.ABANDONED, True, True), (plan, found)
            else:
                assert found == (ContactStatus.ABANDONED, False, True), (plan, found)
            # each change once, however many times its webhook arrived
            expected = {"contact.call_received": 1,
                        "contact.queued": 0 if plan.hangs_up == "in_greeting" else 1,
                        "contact.call_ended": 1 if plan.hangs_up else 0}
            assert {action: audited[(str(contact.id), action)] for action in expected} == \
                expected, plan

        # the chain the killed process was writing to is intact
        verified = crisisline("audit", "verify", check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "audit chain intact" in verified.stdout
        assert web_b.process.poll() is None and worker.process.poll() is None
        worker.settle()
    finally:
        for process in started:
            process.stop()
        for process in started:  # shown when the test fails
            print(process.tail())
