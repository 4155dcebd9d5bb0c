"""The ``crisisline`` command: database, demo data, users, serving, workers and the audit."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from functools import wraps
from pathlib import Path

import click
from flask import Flask, g
from flask_babel import force_locale

from crisisline.config import DEMO_HOTLINE, ConfigError
from crisisline.database import db
from crisisline.errors import DomainError
from crisisline.messages import problem_line, shown

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def with_app(command):
    """Build the app (naming a bad setting instead of a traceback) and run in its context."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        from crisisline import create_app
        try:
            app = create_app()
        except ConfigError as error:
            raise click.ClickException(f"configuration error: {error}") from None
        with app.app_context(), force_locale(_terminal_language()):
            g.audit_actor = f"system:cli:{os.environ.get('USER', 'unknown')}"
            try:
                return command(app, *args, **kwargs)
            except DomainError as error:
                db.rollback()
                fields = error.details.get("fields") or {}
                raise click.ClickException("; ".join(
                    problem_line(field, problem) for field, problem in fields.items())
                    or shown(error.message)) from None
    return wrapper


def _terminal_language() -> str:
    """Refusals in the terminal's language (LC_ALL, LC_MESSAGES, LANG), as the command's
    own words are English: Chinese for a zh_* terminal, otherwise English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return "zh_Hans_CN" if os.environ[name].startswith("zh") else "en"
    return "en"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Crisisline: 24-hour student crisis hotline and crisis case management."""


@main.command()
@with_app
def init(app: Flask):
    """Create the database, or upgrade it to the newest migration (safe to repeat)."""
    upgrade_database(app)
    click.echo("database is at the newest migration")


def upgrade_database(app: Flask, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(MIGRATIONS.parent / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["configure_logger"] = False
    with app.extensions["crisisline.engine"].connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        # SQLite migrations rebuild tables, which it refuses while other tables point at
        # them; foreign keys are off for the migration and checked before it commits
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise click.ClickException("the migration left broken references")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


@main.command("seed-demo")
@click.option("--password", help="password for every demo user (random if not given)")
@with_app
def seed_demo_command(app: Flask, password: str | None):
    """Add a demo district: centre, schools, hospitals, students and users (repeatable)."""
    from crisisline.seed import DEMO_USERS, seed_demo
    password = password or secrets.token_urlsafe(9)
    seed_demo(password)
    db.commit()
    click.echo("demo users (password for all: %s):" % password)
    for username, role, _name, _org, _phone in DEMO_USERS:
        click.echo(f"  {username:<18} {role}")


@main.group()
def users():
    """Create and disable users, and issue API tokens."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True,
              help="volunteer, counselor, supervisor, hospital_liaison, reporter or admin")
@click.option("--org", "orgs", multiple=True, help="organisation code (repeatable)")
@click.option("--password", help="at least 10 characters (random and printed if not given)")
@click.option("--display-name")
@with_app
def users_create(app: Flask, name: str, role: str, orgs: tuple[str, ...],
                 password: str | None, display_name: str | None):
    """Create user NAME with a role and organisations; nothing is created on any error."""
    from crisisline.accounts.services import create_user
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    user = create_user(name, role, password, display_name=display_name,
                       organisation_codes=list(orgs))
    db.commit()
    click.echo(f"created {user.username} ({user.role.value})")
    if generated:
        click.echo(f"password: {password}")


@users.command("disable")
@click.argument("name")
@with_app
def users_disable(app: Flask, name: str):
    """Disable NAME: their sessions and API tokens stop working at once."""
    from crisisline.accounts.services import disable_user
    disable_user(name)
    db.commit()
    click.echo(f"disabled {name}")


@users.command("token")
@click.argument("name")
@with_app
def users_token(app: Flask, name: str):
    """Create an API token for NAME; it is printed once, as the last line."""
    from crisisline.accounts.services import issue_token
    token = issue_token(name)
    db.commit()
    click.echo("API token (shown once; use it as 'Authorization: Bearer <token>'):")
    click.echo(token)


@main.group()
def audit():
    """The tamper-evident audit trail."""


@audit.command("verify")
@with_app
def audit_verify(app: Flask):
    """Exit 0 when the audit chain is intact; otherwise name the first bad entry."""
    from crisisline.audit.services import chain_queued, record_check, verify_chain
    chain_queued()  # entries a process committed but did not live to chain
    report = verify_chain()
    record_check(report)
    db.commit()
    if report.ok:
        click.echo(f"audit chain intact: {report.entries} entries")
        return
    click.echo(f"audit chain BROKEN at entry {report.first_bad_seq}: {report.problem}", err=True)
    sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_app
def serve(app: Flask, host: str, port: int):
    """Serve the web application and its Socket.IO endpoint."""
    click.echo(f"Crisisline serving on http://{host}:{port}")
    run_server(app, host, port)


LISTEN_BACKLOG = 1024  # connections the kernel holds for the server while it is busy


def run_server(app: Flask, host: str, port: int) -> None:
    """Serve ``app`` and its Socket.IO endpoint (Werkzeug, a thread per connection).

    A burst of calls after an incident opens hundreds of connections at once; Werkzeug
    listens with a backlog of 128, and connections beyond it are dropped and reset."""
    from werkzeug.serving import BaseWSGIServer

    from crisisline.extensions import socketio
    BaseWSGIServer.request_queue_size = LISTEN_BACKLOG
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True,
                 use_reloader=False, log_output=False)


@main.command()
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="run the scheduler (queue ticks, audit checks) in this worker; every "
                   "worker polls deadlines")
@click.option("--concurrency", default=2, show_default=True, type=int)
@with_app
def worker(app: Flask, beat: bool, concurrency: int):
    """Run a Celery worker (with the scheduler unless --no-beat)."""
    celery = app.extensions["celery"]
    argv = ["worker", "--loglevel=INFO", f"--concurrency={concurrency}"]
    if beat:
        argv.append("--beat")
    celery.worker_main(argv)


@main.command()
@click.option("--calls", default=10, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--texts", default=5, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--rate", default=0.5, show_default=True, type=click.FloatRange(0.01, 1000),
              help="new contacts per second")
@click.option("--high-risk", "high_risk", default=0.3, show_default=True,
              type=click.FloatRange(0, 1), help="share of callers pressing 1 / risky texts")
@click.option("--abandon", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="share of callers who hang up while waiting")
@click.option("--url", help="where the server listens (default: CRISISLINE_PUBLIC_URL)")
@click.option("--seed", type=int, help="repeat the same traffic")
@with_app
def simulate(app: Flask, calls: int, texts: int, rate: float, high_risk: float,
             abandon: float, url: str | None, seed: int | None):
    """Send signed Twilio webhooks (calls and texts) to a running server, as demo traffic."""
    from hotline.simulator import Simulator
    config = app.config
    if not config["TWILIO_AUTH_TOKEN"]:
        raise click.ClickException("Twilio is not configured: set TWILIO_AUTH_TOKEN (the demo "
                                   "keeps its own in the instance folder)")
    hotline = config["TWILIO_FROM_NUMBER"] or DEMO_HOTLINE
    simulator = Simulator(config["PUBLIC_URL"], config["TWILIO_AUTH_TOKEN"], hotline,
                          target=url, seed=seed)
    click.echo(f"simulating {calls} calls and {texts} texts to {simulator.target}, "
               f"{rate:g} per second")
    report = simulator.run(calls, texts, rate, high_risk, abandon)
    click.echo(report.summary())
    if report.failures:
        if all("ConnectionError" in failure for failure in report.failures):
            raise click.ClickException(f"cannot reach {simulator.target}: is the server "
                                       "running (crisisline demo, or crisisline serve)?")
        sys.exit(1)


@main.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--password", help="password for every demo user (random if not given)")
def demo(port: int, password: str | None):
    """init + seed-demo + web + worker on this machine; Ctrl-C stops everything."""
    me = [sys.executable, "-m", "crisisline.cli"]
    password = password or secrets.token_urlsafe(9)
    for step in (["init"], ["seed-demo", "--password", password]):
        if subprocess.call(me + step) != 0:
            raise click.ClickException(f"'crisisline {step[0]}' failed")
    children = [subprocess.Popen(me + ["worker", "--concurrency=1"]),
                subprocess.Popen(me + ["serve", "--port", str(port)])]
    click.echo(f"\nCrisisline demo: open http://127.0.0.1:{port} and sign in as a demo user "
               f"above (password {password}). Ctrl-C stops it.\n")

    stopping = threading.Event()
    # Ctrl-C (or a service manager's SIGTERM) asks to stop; children are then ended in turn
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    while not stopping.is_set() and all(child.poll() is None for child in children):
        stopping.wait(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
    click.echo("Crisisline demo stopped.")


if __name__ == "__main__":
    main()
