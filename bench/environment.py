"""What every benchmark stands on: a fresh PostgreSQL schema, the application built by
``create_app`` and initialised as ``crisisline init`` does, demo-like staff, servers in
subprocesses, and Redis names of its own.

Nothing here touches data outside the benchmark's schema. A schema is created as
``bench_<uuid>``, reached through ``options=-csearch_path=<schema>`` (as the test suite's
``postgres_schema`` does) and dropped at the end. Redis is shared with whoever else runs on
the machine, so a benchmark gives the Socket.IO message queue a channel and Celery a queue
of their own (Redis pub/sub channels are global across database numbers).
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import psycopg
import redis
import requests
from flask import Flask, g
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = (os.environ.get("BENCH_DATABASE_URL")
                or os.environ.get("CRISISLINE_TEST_DATABASE_URL")
                or "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
HOTLINE = "+861088880000"
TWILIO_SID = "AC" + "b3" * 16
PASSWORD = "bench-password-not-secret"


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@dataclass(frozen=True)
class Database:
    """A schema of our own: its SQLAlchemy URL for the app, and raw connections for baselines."""

    schema: str
    url: str

    def connect(self, **kwargs) -> psycopg.Connection:
        """A raw psycopg connection with the schema on its search path (for baselines)."""
        base = make_url(_psycopg_url(DATABASE_URL)).set(drivername="postgresql")
        return psycopg.connect(base.render_as_string(hide_password=False),
                               options=f"-csearch_path={self.schema}", **kwargs)


@contextmanager
def fresh_schema(prefix: str = "bench") -> Iterator[Database]:
    """``CREATE SCHEMA bench_<uuid>``; dropped (with everything in it) at the end."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_psycopg_url(DATABASE_URL))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(_psycopg_url(DATABASE_URL)).update_query_dict(
        {"options": f"-csearch_path={schema}"})
    try:
        yield Database(schema=schema, url=url.render_as_string(hide_password=False))
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@dataclass(frozen=True)
class RedisNames:
    """The Socket.IO channel and Celery queue this benchmark uses on the shared Redis."""

    url: str = REDIS_URL
    channel: str = field(default_factory=lambda: f"bench-socketio-{uuid.uuid4().hex[:12]}")
    queue: str = field(default_factory=lambda: f"bench-celery-{uuid.uuid4().hex[:12]}")

    def clean(self) -> None:
        """Drop the task messages nobody consumed, and kombu's bookkeeping for the queue."""
        client = redis.Redis.from_url(self.url)
        try:
            client.delete(self.queue, f"_kombu.binding.{self.queue}",
                          *client.keys(f"{self.queue}*"))
        finally:
            client.close()


@dataclass
class Credentials:
    """Twilio credentials and the session key shared by a benchmark's processes."""

    twilio_token: str = field(default_factory=lambda: secrets.token_hex(16))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))


def app_environ(credentials: Credentials, public_url: str = "http://127.0.0.1:5000") -> dict:
    """A production configuration whose Twilio REST calls are recorded, never sent."""
    return {"CRISISLINE_ENV": "production", "CRISISLINE_SECRET_KEY": credentials.secret_key,
            "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": credentials.twilio_token,
            "TWILIO_FROM_NUMBER": HOTLINE, "CRISISLINE_TWILIO_TRANSPORT": "record",
            "CRISISLINE_PUBLIC_URL": public_url}


def build_app(database_url: str, instance: Path, credentials: Credentials, *,
              redis: RedisNames | None = None, eager: bool = False,
              public_url: str = "http://127.0.0.1:5000", init: bool = False) -> Flask:
    """The application as ``create_app`` builds it for web, worker and CLI, with this
    benchmark's Redis names; ``init`` runs ``crisisline init`` (the Alembic upgrade).

    ``eager`` runs Celery tasks in-process right after the commit that sends them, instead
    of through a broker (only where a benchmark says so).
    """
    from crisisline import create_app
    from crisisline.cli import upgrade_database
    from crisisline.extensions import socketio

    if redis is not None:  # read by Flask-SocketIO's init_app inside create_app
        socketio.server_options["channel"] = redis.channel
    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis.url if redis else None,
                      "CELERY_ALWAYS_EAGER": eager},
                     environ=app_environ(credentials, public_url), instance_path=instance)
    if redis is not None:
        app.extensions["celery"].conf.task_default_queue = redis.queue
    if init:
        upgrade_database(app)
    return app


@contextmanager
def acting(app: Flask, actor=None):
    """An application context whose audit entries name ``actor`` (a user, or a name), as a
    signed-in request's would; the session is removed at the end."""
    with app.app_context():
        g.audit_actor = actor or "system:bench"
        yield


# -- staff and organisations -----------------------------------------------------------------

@dataclass
class Centre:
    """The ids of a seeded hotline centre and its people."""

    centre_id: int
    school_ids: list[int]
    team_id: int
    volunteer_ids: list[int]
    counselor_ids: list[int]
    supervisor_ids: list[int]


def seed_centre(*, volunteers: int = 0, counselors: int = 1, supervisors: int = 1,
                schools: int = 1, prefix: str = "b") -> Centre:
    """A hotline centre with schools, an on-duty team (every counselor on it), and staff.

    Volunteers are signed in (available, idle in order, speaking zh and en). Everyone
    shares one password hash, so seeding 200 people does not hash 200 passwords. Call in
    an application context; commits.
    """
    from crisisline.accounts.models import (Membership, Organisation, OrgKind, Role, Team,
                                            TeamMember, User)
    from crisisline.accounts.services import hash_password
    from crisisline.database import db, utcnow
    from hotline.models import Presence

    password_hash = hash_password(PASSWORD)
    centre = Organisation(code=f"{prefix.upper()}-CENTRE", name="基准热线中心",
                          kind=OrgKind.HOTLINE_CENTRE, hotline_number=HOTLINE)
    db.add(centre)
    db.flush()
    school_orgs = [Organisation(code=f"{prefix.upper()}-S{index}", name=f"基准学校{index}",
                                kind=OrgKind.SCHOOL, centre_id=centre.id)
                   for index in range(schools)]
    team = Team(centre_id=centre.id, name="on duty")
    db.add_all([*school_orgs, team])

    def people(role: Role, count: int, first_phone: int) -> list[User]:
        users = [User(username=f"{prefix}_{role.value}_{index}",
                      display_name=f"{role.value} {index}", role=role,
                      password_hash=password_hash, phone=f"+86139{first_phone + index:08d}",
                      memberships=[Membership(organisation=centre)]) for index in range(count)]
        db.add_all(users)
        return users

    volunteer_users = people(Role.VOLUNTEER, volunteers, 0)  # everyone's number differs
    counselor_users = people(Role.COUNSELOR, counselors, 100_000)
    supervisor_users = people(Role.SUPERVISOR, supervisors, 200_000)
    db.flush()
    db.add_all(TeamMember(team_id=team.id, user_id=user.id) for user in counselor_users)
    start = utcnow() - timedelta(hours=1)
    db.add_all(Presence(user_id=user.id, centre_id=centre.id, state="available",
                        since=start + timedelta(milliseconds=index), languages="zh,en")
               for index, user in enumerate(volunteer_users))
    db.commit()
    return Centre(centre.id, [school.id for school in school_orgs], team.id,
                  [user.id for user in volunteer_users], [user.id for user in counselor_users],
                  [user.id for user in supervisor_users])


def api_token(username: str) -> str:
    """A Bearer token for ``username`` (as ``crisisline users token``); commits."""
    from crisisline.accounts.services import issue_token
    from crisisline.database import db
    token = issue_token(username)
    db.commit()
    return token


# -- processes --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from ``/proc`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Child:
    """A ``python -m bench.servers ...`` process in a session of its own.

    It is ended by its own process-group id (a Celery worker's pool with it), never by name.
    Its output goes to a log file, shown when it fails to start.
    """

    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("CRISISLINE_", "TWILIO_"))}
        environment.update(env, PYTHONPATH=str(ROOT))
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "bench.servers", *args],
                                        cwd=workdir, env=environment, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_http(self, url: str, timeout: float = 60) -> None:
        """Wait until ``url`` answers (any status); fail with the child's log if it died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                requests.get(url, timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} in {timeout:g} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group at once: a crash, not a shutdown."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def server_env(database_url: str, instance: Path, credentials: Credentials, *,
               public_url: str, redis: RedisNames | None = None) -> dict[str, str]:
    """The environment a ``bench.servers`` child builds its application from."""
    env = {**app_environ(credentials, public_url), "CRISISLINE_DATABASE_URL": database_url,
           "CRISISLINE_INSTANCE_PATH": str(instance)}
    if redis is not None:
        env.update(CRISISLINE_REDIS_URL=redis.url, BENCH_SOCKETIO_CHANNEL=redis.channel,
                   BENCH_CELERY_QUEUE=redis.queue)
    return env


@contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A temporary folder for instance files and child logs (kept with BENCH_KEEP=1)."""
    if os.environ.get("BENCH_KEEP"):
        folder = tempfile.mkdtemp(prefix=f"crisisline-bench-{name}-")
        print(f"   keeping {folder}", flush=True)
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix=f"crisisline-bench-{name}-") as folder:
        yield Path(folder)
