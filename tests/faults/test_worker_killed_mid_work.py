"""A Celery worker killed with SIGKILL in the middle of its work: no deadline is lost, no
text is sent twice.

Hundreds of deadlines fall due while a worker with its scheduler runs. While it is visibly
mid-way (some fired, some texts sent, others not yet), the whole worker (main process,
pool and scheduler) is killed at once, as the kernel's OOM killer or a lost machine would.
A new worker then finishes the work. Every deadline fires exactly once, with one audit
entry and one alert per recipient; no alert is texted twice (the recording Twilio transport
writes each request the library makes to ``instance/twilio-outbox.jsonl``), and every alert
is texted except those the kill caught between "sending" and "sent" (at most once: they are
never sent again); and the audit chain verifies.

Runs on the embedded default (SQLite, SQLite broker) and on PostgreSQL with Redis.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from casework.models import Alert, Case, CaseSource, Deadline, DeadlineStatus, RiskLevel
from crisisline.accounts.models import Membership, Organisation, OrgKind, Role, User
from crisisline.audit.models import AuditEntry
from crisisline.database import utcnow
from tests.conftest import TEST_REDIS_URL

KINDS = ("responder_on_site", "guardian_reached", "hospital_arrival", "first_follow_up")
CASES = 75  # x 4 kinds: 300 deadlines, each alerting the case owner and the supervisor
ALREADY_DUE = 60  # due before the worker is killed; the rest fall due over WINDOW
WINDOW = timedelta(seconds=30)
CONCURRENCY = 2  # pool processes
POLL_SECONDS = 1  # every worker polls deadlines this often (the policy file says so)


class Worker:
    """``crisisline worker`` in its own session; its output is drained as it comes (a
    worker whose output pipe fills up stops working) and kept for failure messages."""

    def __init__(self, crisisline, env: dict, log):
        self.process = crisisline.start("worker", f"--concurrency={CONCURRENCY}", env=env)
        self.lines: list[str] = []
        self.log = log
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        with open(self.log, "w", encoding="utf-8") as log:
            for line in self.process.stdout:
                self.lines.append(line)
                log.write(line)

    def count(self, *needles: str) -> int:
        return sum(all(needle in line for needle in needles) for line in list(self.lines))

    def wait_for(self, condition, seconds: float, what: str, progress=lambda: "") -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited while waiting for {what} "
                                     f"({progress()}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {seconds:.0f} s ({progress()}):\n"
                                     f"{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 20) -> str:
        return f"(all of it in {self.log})\n" + "".join(self.lines[-lines:])

    def kill(self) -> None:
        """SIGKILL to the whole process group: nothing gets to clean up."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:  # the pool and the scheduler too, should any have outlived the main process
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reader.join(timeout=10)
        self.process.stdout.close()


@pytest.fixture
def engine(cli_database_url):
    """The test's own connection to the database the command line works on."""
    engine = create_engine(cli_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


@pytest.fixture
def broker_env():
    """The worker's environment: Redis when the tests have it, else the embedded broker.

    On Redis, a database of our own (empty when claimed), so no other test's worker takes
    these tasks, and the messages a killed worker leaves unacknowledged go with it."""
    if not TEST_REDIS_URL:
        yield {}
        return
    import redis
    parts = urlsplit(TEST_REDIS_URL)
    for index in random.sample(range(1, 16), 15):
        url = urlunsplit(parts._replace(path=f"/{index}"))
        client = redis.Redis.from_url(url)
        if client.set("crisisline-test:claimed", os.getpid(), nx=True, ex=1800) \
                and client.dbsize() == 1:
            break
        client.close()
    else:
        pytest.fail("no empty Redis database to run the worker on")
    try:
        yield {"CRISISLINE_REDIS_URL": url}
    finally:
        client.flushdb()
        client.close()


def test_a_worker_killed_mid_work_loses_no_deadline_and_texts_nobody_twice(
        crisisline, engine, broker_env, tmp_path):
    crisisline("init")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"deadline_poll_seconds": POLL_SECONDS}))
    env = {**broker_env, "CRISISLINE_POLICY_FILE": str(policy)}
    case_ids, people = _cases_with_owners_and_a_supervisor(engine)

    worker = Worker(crisisline, env, tmp_path / "worker-1.log")
    try:
        worker.wait_for(lambda: worker.count("ready") > 0, 90, "worker ready")
        deadline_ids = _deadlines_falling_due(engine, case_ids)
        total = len(deadline_ids)

        def fired() -> int:
            with Session(engine) as session:
                return session.scalar(select(func.count()).where(
                    Deadline.status == DeadlineStatus.FIRED))

        def texted() -> int:
            with Session(engine) as session:
                return session.scalar(select(func.count()).where(Alert.sms_status.is_not(None)))

        def progress() -> str:
            with Session(engine) as session:
                alerts = Counter(session.scalars(select(Alert.sms_status)).all())
            return f"{fired()} of {total} deadlines fired; alerts by text status: {alerts}"

        worker.wait_for(lambda: fired() >= total // 4 and texted() > 0, 120,
                        "deadlines fired and alerts texted", progress)
        worker.kill()
        time.sleep(1)  # a COMMIT already on its way to the database still lands
        at_kill = fired(), texted()
        assert 0 < at_kill[0] < total, f"not killed mid-way: {at_kill[0]} of {total} fired"
        assert at_kill[1] < total * 2, "every alert was texted before the kill"
        with Session(engine) as session:  # texts the kill cut off between "sending" and "sent"
            cut_off = set(session.scalars(select(Alert.id).where(Alert.sms_status == "sending")))

        worker = Worker(crisisline, env, tmp_path / "worker-2.log")
        worker.wait_for(lambda: worker.count("ready") > 0, 90, "restarted worker ready")

        def settled() -> bool:
            with Session(engine) as session:
                unsent = session.scalar(select(func.count()).where(Alert.sms_status.is_(None)))
            return fired() == total and unsent == 0
        # lost sends are swept up a minute after their alert (casework.tasks.UNSENT_AFTER)
        worker.wait_for(settled, 300, "every deadline fired and every alert texted", progress)
        time.sleep(3 * POLL_SECONDS)  # more polls after the work was done: nothing again
    finally:
        worker.stop()

    with Session(engine) as session:
        deadlines = session.scalars(select(Deadline)).all()
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
    assert sorted(d.id for d in deadlines) == sorted(deadline_ids)
    assert {d.status for d in deadlines} == {DeadlineStatus.FIRED}

    # one alert per recipient of each deadline: the case's owner and the supervisor
    recipients: dict[int, list[int]] = {}
    for alert in alerts:
        recipients.setdefault(alert.deadline_id, []).append(alert.recipient_id)
    assert {deadline_id: sorted(ids) for deadline_id, ids in recipients.items()} == {
        d.id: sorted([people["owner_of"][d.case_id], people["supervisor"]]) for d in deadlines}

    # each alert texted at most once: the ones the kill cut off mid-send stay "sending"
    # (never sent again, whether or not Twilio got them), every other one was sent once
    outbox = _outbox(crisisline.instance_path)
    sent = [(request["data"]["To"], request["data"]["Body"]) for request in outbox]
    assert [key for key, times in Counter(sent).items() if times > 1] == []
    assert {to for to, _ in sent} <= set(people["phone"].values())
    statuses = Counter(alert.sms_status for alert in alerts)
    assert set(statuses) <= {"sent", "sending"}, statuses
    assert {alert.id for alert in alerts if alert.sms_status == "sending"} <= cut_off
    sids = Counter(request["sid"] for request in outbox)
    assert all(sids[alert.sms_sid] == 1 for alert in alerts if alert.sms_status == "sent")
    assert statuses["sent"] <= len(outbox) <= statuses["sent"] + statuses["sending"]

    # the chain holds, with each deadline's miss recorded exactly once
    assert "audit chain intact" in crisisline("audit", "verify").stdout
    with Session(engine) as session:
        missed = Counter(session.scalars(select(AuditEntry.object_id).where(
            AuditEntry.action == "deadline.missed")).all())
    assert missed == Counter({str(deadline_id): 1 for deadline_id in deadline_ids})


def _cases_with_owners_and_a_supervisor(engine) -> tuple[list[int], dict]:
    """A centre with a supervisor and two counselors, and cases the counselors own."""
    with Session(engine) as session:
        centre = Organisation(code="FAULT-C", name="fault centre", kind=OrgKind.HOTLINE_CENTRE)
        session.add(centre)
        session.flush()

        def user(name: str, role: Role, phone: str) -> User:
            person = User(username=name, display_name=name, role=role, password_hash="-",
                          phone=phone, memberships=[Membership(organisation_id=centre.id)])
            session.add(person)
            return person
        supervisor = user("fault_supervisor", Role.SUPERVISOR, "+8613800000001")
        owners = [user(f"fault_counselor{n}", Role.COUNSELOR, f"+861390000000{n}")
                  for n in (1, 2)]
        session.flush()
        cases = [Case(centre_id=centre.id, source=CaseSource.PARENT, risk_level=RiskLevel.HIGH,
                      owner_id=owners[n % 2].id, state="on_site") for n in range(CASES)]
        session.add_all(cases)
        session.commit()
        return [case.id for case in cases], {
            "supervisor": supervisor.id,
            "owner_of": {case.id: case.owner_id for case in cases},
            "phone": {person.id: person.phone for person in (supervisor, *owners)}}


def _deadlines_falling_due(engine, case_ids: list[int]) -> list[int]:
    """One deadline of each kind per case: some already due, the rest over ``WINDOW``."""
    now = utcnow()
    pairs = [(case_id, kind) for case_id in case_ids for kind in KINDS]
    later = len(pairs) - ALREADY_DUE
    with Session(engine) as session:
        deadlines = [Deadline(case_id=case_id, kind=kind, due_at=(
            now - timedelta(minutes=1) if n < ALREADY_DUE
            else now + WINDOW * (n - ALREADY_DUE + 1) / later))
            for n, (case_id, kind) in enumerate(pairs)]
        session.add_all(deadlines)
        session.commit()
        return [deadline.id for deadline in deadlines]


def _outbox(instance_path) -> list[dict]:
    """The Messages requests the recording Twilio transport received."""
    outbox = instance_path / "twilio-outbox.jsonl"
    if not outbox.exists():
        return []
    return [request for request in map(json.loads, outbox.read_text("utf-8").splitlines())
            if request["url"].endswith("/Messages.json")]
