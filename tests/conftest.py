"""Test fixtures.

SQLite by default; PostgreSQL when ``CRISISLINE_TEST_DATABASE_URL`` is set, Redis when
``CRISISLINE_TEST_REDIS_URL`` is. Migrations are applied once per run; each test runs in
a transaction that is rolled back afterwards (the code's own commits become savepoints).
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crisisline import create_app
from crisisline.cli import upgrade_database
from crisisline.database import db
from crisisline.extensions import limiter

TEST_DATABASE_URL = os.environ.get("CRISISLINE_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("CRISISLINE_TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parent.parent
# the application's packages (what pyproject.toml installs beside the shell)
APP_PACKAGES = ("crisisline", "hotline", "casework", "schoolnet", "state_machines")

needs_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL: set "
                                    "CRISISLINE_TEST_DATABASE_URL")
needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis: set "
                                 "CRISISLINE_TEST_REDIS_URL")


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _reset_postgres_schema(url: str, schema: str) -> None:
    engine = create_engine(_psycopg(url))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


@contextmanager
def postgres_schema(prefix: str):
    """A fresh PostgreSQL schema of our own, so concurrent test runs never collide."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    _reset_postgres_schema(TEST_DATABASE_URL, schema)
    url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        engine = create_engine(_psycopg(TEST_DATABASE_URL))
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if TEST_DATABASE_URL:
        with postgres_schema("test") as url:
            yield url
        return
    yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'crisisline.sqlite'}"


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL,
                      "SECRET_KEY": "test-secret-key-" + "x" * 32,
                      "CELERY_ALWAYS_EAGER": True},
                     environ={"CRISISLINE_ENV": "testing"},
                     instance_path=tmp_path_factory.mktemp("instance"))
    upgrade_database(app)
    yield app
    app.extensions["crisisline.engine"].dispose()  # before the schema is dropped


@pytest.fixture(autouse=True)
def _rolled_back(request, app):
    """Every test's writes live in one outer transaction that is rolled back."""
    # tasks sent by the test go through this app's Celery, even after a test built an app
    # of its own (Celery makes the newest app the current one)
    app.extensions["celery"].set_current()
    if request.node.get_closest_marker("commits"):
        yield None
        return
    engine = app.extensions["crisisline.engine"]
    connection = engine.connect()
    transaction = connection.begin()
    app.extensions["crisisline.db_bind"] = connection
    limiter.reset()
    try:
        yield connection
    finally:
        app.extensions["crisisline.db_bind"] = engine
        transaction.rollback()
        connection.close()


@pytest.fixture
def client(app):
    return app.test_client()


@contextmanager
def app_context(app):
    """Work with the database as a service would; leave no state behind in ``g``."""
    with app.app_context():
        yield db


@pytest.fixture
def ctx(app):
    return lambda: app_context(app)


@contextmanager
def cli_connection(url: str):
    """A connection to a command's own database (``cli_database_url``; psycopg 3 for
    PostgreSQL, as the application uses), committed on success."""
    engine = create_engine(_psycopg(url) if url.startswith("postgresql://") else url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture
def cli_database_url(tmp_path):
    """A database of its own for the command line run as a separate process."""
    if TEST_DATABASE_URL:
        with postgres_schema("cli") as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'cli.sqlite'}"


@pytest.fixture
def crisisline(cli_database_url, tmp_path):
    """Run the ``crisisline`` command as a user would, on its own database."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("CRISISLINE_", "TWILIO_", "LC_", "LANG"))}
    # an English terminal: the commands' tests read English; tests of the language set it
    environment.update(CRISISLINE_DATABASE_URL=cli_database_url, USER="tester",
                       LANG="en_US.UTF-8",
                       CRISISLINE_INSTANCE_PATH=str(tmp_path / "instance"))

    def run(*args: str, check: bool = True, env: dict | None = None):
        result = subprocess.run(
            [sys.executable, "-m", "crisisline.cli", *args], capture_output=True, text=True,
            cwd=tmp_path, env={**environment, **(env or {})}, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"crisisline {' '.join(args)} failed:\n{result.stderr}")
        return result

    def start(*args: str, env: dict | None = None) -> subprocess.Popen:
        """Start a long-running ``crisisline`` command (serve, worker) in the background."""
        # a session of its own, so the whole process group (a worker's pool too) can be ended
        return subprocess.Popen([sys.executable, "-m", "crisisline.cli", *args], cwd=tmp_path,
                                env={**environment, **(env or {})}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

    run.start = start
    run.instance_path = tmp_path / "instance"
    return run


def login(client, username: str, password: str = "correct-horse-battery") :
    """Sign in through the login form, CSRF token and all."""
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]\
        .split('"')[0]
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password})


@pytest.fixture(scope="session")
def live_server(app):
    """The app served on a loopback port, for real Socket.IO clients.

    Its requests use the same test connection as the test itself, so they see the test's
    data; with Redis configured, emits travel through Redis as they do in production.
    """
    import threading

    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@contextmanager
def console_connection(live_server: str, client, *, origin: str | None = None):
    """A real Socket.IO console connection carrying ``client``'s browser session."""
    import socketio

    received: list[tuple[str, dict]] = []
    console = socketio.Client(reconnection=False)
    console.on("*", lambda event, data: received.append((event, data)), namespace="/console")
    cookie = client.get_cookie("session")
    headers = {"Origin": origin or live_server}
    if cookie is not None:
        headers["Cookie"] = f"session={cookie.value}"
    try:
        console.connect(live_server, namespaces=["/console"], headers=headers,
                        transports=["polling"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        pass
    console.received = received
    try:
        yield console
    finally:
        console.disconnect()


def wait_for(console, event: str, seconds: float = 5.0) -> list[dict]:
    """Events arrive a moment after the emit; poll for them, bounded in time."""
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [data for name, data in console.received if name == event]
        if found:
            return found
        time.sleep(0.05)
    return []


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def world(ctx):
    """The access world of ``tests.world``, committed (to the test's savepoint)."""
    from tests.world import build_world
    with ctx() as db:
        world = build_world()
        db.commit()
        return world


class Caller:
    """One test user calling the API with their own Bearer token."""

    def __init__(self, client, name: str, token: str):
        self.client, self.name = client, name
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **query):
        return self.client.get(path, query_string=query, headers=self.headers)

    def post(self, path: str, json: dict | None = None):
        return self.client.post(path, json=json or {}, headers=self.headers)

    def patch(self, path: str, json: dict | None = None):
        return self.client.patch(path, json=json or {}, headers=self.headers)

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

    def upload(self, case_id: int, kind: str, *, content: bytes = PDF,
               content_type: str = "application/pdf", hospital_id: int | None = None):
        from werkzeug.datastructures import FileStorage
        from werkzeug.test import encode_multipart
        form = {"kind": kind, "file": FileStorage(io.BytesIO(content), filename=f"{kind}.pdf",
                                                  content_type=content_type)}
        if hospital_id is not None:
            form["issued_by_hospital_id"] = str(hospital_id)
        # encoded in memory: the test client spools large bodies to a file it never closes
        boundary, body = encode_multipart(form)
        return self.client.post(f"/api/cases/{case_id}/documents", data=body,
                                headers=self.headers,
                                content_type=f"multipart/form-data; boundary={boundary}")


@pytest.fixture
def api(client, ctx, world):
    """``api("counselor")``: the API as test user t_counselor (one token per user)."""
    from crisisline.accounts import services as accounts
    callers: dict[str, Caller] = {}

    def caller(name: str) -> Caller:
        if name not in callers:
            with ctx() as db:
                token = accounts.issue_token(f"t_{name}")
                db.commit()
            callers[name] = Caller(client, name, token)
        return callers[name]
    return caller
