"""The ``crisisline`` command: database, demo data, users, serving, workers and the audit."""
from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from functools import wraps
from pathlib import Path

import click
from flask import Flask, g
from flask_babel import force_locale, lazy_gettext as _l

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
        with app.app_context(), force_locale(_language()):
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


LOCALES = {"zh": "zh_Hans_CN", "en": "en"}


def _language() -> str:
    """The language of refusals and problems: ``--lang``; else a Chinese or English
    terminal's (LC_ALL, LC_MESSAGES, LANG); else Chinese."""
    asked = click.get_current_context().find_root().params.get("lang")
    if asked:
        return LOCALES[asked]
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value.startswith(tuple(LOCALES)):
            return LOCALES[value[:2]]
        if value:
            break
    return LOCALES["zh"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lang", type=click.Choice(sorted(LOCALES)),
              help="the language of refusals and problems [default: the terminal's if it is "
                   "Chinese or English, else Chinese]")
def main(lang: str | None):
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

    from crisisline.audit.services import ChainBroken

    config = Config(str(MIGRATIONS.parent / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["configure_logger"] = False
    config.attributes["audit_key"] = app.config["AUDIT_KEY"]  # migrations re-key the chain
    with app.extensions["crisisline.engine"].connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        # SQLite migrations rebuild tables, which it refuses while other tables point at
        # them; foreign keys are off for the migration and checked before it commits
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                try:
                    command.upgrade(config, revision)
                except ChainBroken as broken:  # the audit key's migration, on a broken chain
                    raise click.ClickException(str(broken)) from None
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise click.ClickException("the migration left broken references")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


@main.command("seed-demo")
@click.option("--password", help="password for every demo user (random if not given)")
@with_app
def seed_demo_command(app: Flask, password: str | None):
    """Add a demo district, imported from examples/district (centre, schools, hospitals,
    about 1,000 students, staff), the demo users and sample cases (repeatable)."""
    from crisisline.accounts.passwords import generate
    from crisisline.seed import DEMO_USERS, seed_demo
    password = password or generate()
    seed_demo(password)
    db.commit()
    click.echo("demo users (password for all: %s):" % password)
    for username, role, _name, _org, _phone in DEMO_USERS:
        click.echo(f"  {username:<18} {role}")
    click.echo("  (and the staff imported from examples/district/users.csv, e.g. vol.liu)")


@main.group()
def users():
    """Create and disable users, and issue API tokens."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True,
              help="volunteer, counselor, supervisor, hospital_liaison, reporter or admin")
@click.option("--org", "orgs", multiple=True,
              help="their organisation's code: a hotline centre (volunteer, counselor, "
                   "supervisor), a hospital (hospital_liaison) or a school (reporter)")
@click.option("--unit", default="", help="a reporter's unit in the school, e.g. "
                                         "'计算机学院/2023级1班'")
@click.option("--identity", default="",
              help="a reporter's identity: head_teacher, counselor_teacher, class_committee, "
                   "dormitory_informant, department_head or psychology_centre")
@click.option("--phone", default="", help="mobile number (11 digits, or + and country code)")
@click.option("--languages", default="zh", help="contact languages, e.g. zh or zh,en")
@click.option("--team", default="", help="a team of their hotline centre")
@click.option("--password", help="at least 12 characters, not the name, not a common password "
                                 "(if not given: a temporary password is printed, to be "
                                 "changed at first sign-in)")
@click.option("--link", is_flag=True,
              help="print a one-time sign-in link (24 hours) instead of a temporary password")
@click.option("--display-name")
@with_app
def users_create(app: Flask, name: str, role: str, orgs: tuple[str, ...], unit: str,
                 identity: str, phone: str, languages: str, team: str, password: str | None,
                 link: bool, display_name: str | None):
    """Create user NAME, who must be able to do their job (an organisation that fits the
    role; a reporter's identity and unit); nothing is created on any error."""
    from crisisline.accounts.services import create_staff, details_with_codes
    details, errors = details_with_codes(
        name, role, orgs, display_name=display_name, phone=phone, unit=unit,
        identity=identity, languages=[code.strip() for code in languages.split(",")],
        team=team)
    user, secret = create_staff(name, details, password=password, errors=errors,
                                credential="link" if link else "password")
    db.commit()
    click.echo(f"created {user.username} ({user.role.value})")
    if secret is not None:
        click.echo(f"sign-in link (shown once, valid 24 hours): {secret}" if link
                   else f"password: {secret}")


@users.command("reset")
@click.argument("name")
@click.option("--link", is_flag=True,
              help="a one-time sign-in link (24 hours) instead of a temporary password")
@click.option("--turn-off-2fa", is_flag=True, help="also remove their two-factor sign-in")
@with_app
def users_reset(app: Flask, name: str, link: bool, turn_off_2fa: bool):
    """Reset NAME's sign-in: their password stops working, their sessions end, and a
    temporary password (or a one-time link) is printed once, as the last line."""
    from crisisline.accounts.services import get_user, reset_sign_in
    secret = reset_sign_in(get_user(name).id, "link" if link else "password",
                           turn_off_two_factor=turn_off_2fa)
    db.commit()
    click.echo(f"{name} must set a new password at their next sign-in; shown once:")
    click.echo(secret)


@users.command("enable")
@click.argument("name")
@with_app
def users_enable(app: Flask, name: str):
    """Re-enable NAME after `users disable` (old sessions and tokens stay ended)."""
    from crisisline.accounts.services import enable_user, get_user
    enable_user(get_user(name).id)
    db.commit()
    click.echo(f"enabled {name}")


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


@users.command("tokens")
@click.argument("name")
@with_app
def users_tokens(app: Flask, name: str):
    """List NAME's API tokens: prefix, created, last used, expires (or revoked)."""
    from crisisline.accounts.services import tokens_of
    from crisisline.database import utcnow

    def when(moment) -> str:
        return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"

    tokens = tokens_of(name)
    db.rollback()
    if not tokens:
        click.echo(f"{name} has no API tokens")
    now = utcnow()
    for token in tokens:
        state = (f"revoked {when(token.revoked_at)}" if token.revoked_at else
                 "expired" if token.expires_at <= now else "in use")
        click.echo(f"{token.prefix:<12} created {when(token.created_at)}  last used "
                   f"{when(token.last_used_at)}  expires {when(token.expires_at)}  {state}")


@users.command("revoke-token")
@click.argument("prefix")
@with_app
def users_revoke_token(app: Flask, prefix: str):
    """Revoke the API token starting with PREFIX (see 'users tokens'); others keep working."""
    from crisisline.accounts.services import revoke_token
    token = revoke_token(prefix)
    username = token.user.username
    db.commit()
    click.echo(f"revoked {prefix} of {username}")


@main.command("import")
@click.argument("kind", metavar="organisations|users|students|screening")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--campaign", "campaign_id", type=int,
              help="screening: the campaign the results belong to")
@click.option("--dry-run", is_flag=True, help="check everything and write nothing")
@click.option("--credentials", type=click.Path(dir_okay=False, writable=True),
              help="where new users' one-time sign-in links or temporary passwords are "
                   "written, once (mode 600)")
@with_app
def import_command(app: Flask, kind: str, path: str, campaign_id: int | None, dry_run: bool,
                   credentials: str | None):
    """Import FILE (CSV in UTF-8 or GBK, or XLSX) as organisations, users or students, or
    as a screening campaign's results (--campaign ID).

    All or nothing: with any bad row, every problem is printed as "第N行 列名: 原因" and
    nothing is written (exit 1). Importing the same file again changes nothing (a
    screening's results: refused, the students have results already)."""
    from crisisline.imports import import_file
    with _progress_bar() as progress:
        if kind == "screening":
            from schoolnet.screening import import_results
            if campaign_id is None:
                raise click.UsageError(shown(_l("name the campaign: --campaign ID")))
            report = import_results(None, campaign_id, path, dry_run=dry_run,
                                    progress=progress)
        else:
            report = import_file(kind, path, dry_run=dry_run, progress=progress)
    if not report.ok:
        for problem in report.problems:
            click.echo(shown(problem.line()), err=True)
        raise click.ClickException(shown(_l(
            "nothing was imported: %(count)d problems", count=len(report.problems))))
    if report.credentials and not dry_run:
        if credentials is None:
            db.rollback()
            raise click.ClickException(shown(_l(
                "new users need their sign-in secrets: name a file with --credentials")))
        _write_credentials(Path(credentials), report.credentials)
    db.commit()
    counts = report.counts
    click.echo(shown(_l("%(file)s: %(rows)d rows; %(created)d created, %(updated)d updated, "
                        "%(unchanged)d unchanged", file=report.filename, rows=report.rows,
                        **counts) if not dry_run else
                     _l("%(file)s: %(rows)d rows are valid; importing would create "
                        "%(created)d, update %(updated)d and leave %(unchanged)d unchanged "
                        "(nothing was written)", file=report.filename, rows=report.rows,
                        **counts)))
    if report.counted["warnings"]:
        click.echo(shown(_l("%(warnings)d warnings (%(urgent)d urgent: their interview is "
                            "due within a day)", warnings=report.counted["warnings"],
                            urgent=report.counted["urgent"])))
    if report.credentials and not dry_run:
        click.echo(shown(_l("sign-in secrets of %(count)d new users written to %(path)s",
                            count=len(report.credentials), path=credentials)))


class _progress_bar:
    """A bar on a terminal for each stage of an import (none when output is a file)."""

    def __enter__(self):
        self.bar, self.stage, self.shown = None, None, 0
        return self.update if sys.stderr.isatty() else (lambda _stage, _done: None)

    def update(self, stage: str, done: float) -> None:
        if stage != self.stage:
            self.__exit__()
            label = {"checking": _l("checking"), "saving": _l("saving")}[stage]
            self.bar = click.progressbar(length=1000, label=str(label), file=sys.stderr)
            self.bar.__enter__()
            self.stage, self.shown = stage, 0
        step = int(done * 1000) - self.shown
        if step > 0:
            self.bar.update(step)
            self.shown += step

    def __exit__(self, *_exc):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _write_credentials(path: Path, credentials: list) -> None:
    """Write (username, secret) rows once, readable by the owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["username", "secret"])
        writer.writerows(credentials)


@main.group("key-periods")
def key_periods():
    """Schools' key periods (重要时段)."""


@key_periods.command("defaults")
@click.option("--school", "school_code", required=True, help="the school's code")
@click.option("--year", type=int, help="the school year, by the year it starts in "
                                       "(September) [default: this one]")
@with_app
def key_periods_defaults(app: Flask, school_code: str, year: int | None):
    """Add the default key periods of a school year to a school's calendar: those it does
    not have yet (safe to repeat)."""
    from crisisline.accounts.models import OrgKind
    from crisisline.district.services import get_organisation
    from schoolnet import services
    school = get_organisation(OrgKind.SCHOOL, school_code)
    year = year if year is not None else services.school_year_of(services.local_today())
    added = services.default_calendar(school.id, year)
    db.commit()
    click.echo(shown(_l("%(school)s, school year %(first)d–%(next)d: %(added)d key periods "
                        "added, %(total)d in all", school=school.name, first=year,
                        next=year + 1, added=len(added),
                        total=len(services.school_key_periods(school.id, year)))))
    for period in added:
        click.echo(f"  {period.starts_on} – {period.ends_on}  {period.name}")


@main.group()
def triage():
    """The text triage model's labelled data."""


@triage.command("export")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, writable=True))
@with_app
def triage_export(app: Flask, path: str):
    """Write the accepted triage feedback, de-identified, to FILE as labelled examples
    (JSON Lines, as in bench/triage/corpus) for the next training."""
    import json

    from hotline.feedback import accepted_examples
    examples = accepted_examples()
    Path(path).write_text("".join(json.dumps(example, ensure_ascii=False) + "\n"
                                  for example in examples), encoding="utf-8")
    click.echo(shown(_l("%(count)d labelled examples written to %(path)s",
                        count=len(examples), path=path)))


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
    where = f" at entry {report.first_bad_seq}" if report.first_bad_seq is not None else ""
    click.echo(f"audit chain BROKEN{where}: {report.problem}", err=True)
    sys.exit(1)


@audit.command("rotate-key")
@with_app
def audit_rotate_key(app: Flask):
    """Re-key the audit chain with CRISISLINE_NEW_AUDIT_KEY.

    Stop every web process and worker first. The chain is verified with the current key
    (CRISISLINE_AUDIT_KEY, or the embedded default's instance/audit_key) and only then
    chained again with the new one, in one transaction; an audit.rekey entry records it.
    Then give every process the new key (the embedded default's file is replaced here)."""
    from crisisline.audit.services import (ChainBroken, _locked_head, chain_queued,
                                           entry_hash, key_id, rekey_chain, verify_chain)
    old_key, new_key = app.config["AUDIT_KEY"], os.environ.get("CRISISLINE_NEW_AUDIT_KEY", "")
    if len(new_key) < 32:
        raise click.ClickException("set CRISISLINE_NEW_AUDIT_KEY to the new key (a random "
                                   "string of at least 32 characters)")
    if new_key == old_key:
        raise click.ClickException("CRISISLINE_NEW_AUDIT_KEY is the key in use now")
    chain_queued()
    _locked_head(db)  # no process appends between the check and the re-keying
    report = verify_chain()
    if not report.ok:
        raise click.ClickException(f"the audit chain is broken ({report.problem}); it was not "
                                   "re-keyed")
    kept = None if os.environ.get("CRISISLINE_AUDIT_KEY") else \
        Path(app.instance_path) / "audit_key"
    pending = kept.with_name("audit_key.new") if kept is not None else None
    if pending is not None:  # written before the commit, so the new key is never lost
        with os.fdopen(os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                       "w") as handle:
            handle.write(new_key)
    try:
        count = rekey_chain(db.connection(), lambda fields: entry_hash(fields, old_key),
                            new_key, actor=g.audit_actor, reason="rotation")
        db.commit()
    except BaseException as error:
        db.rollback()
        if pending is not None:
            pending.unlink()
        if isinstance(error, ChainBroken):
            raise click.ClickException(f"the audit chain is broken ({error.problem}); it was "
                                       "not re-keyed") from None
        raise
    click.echo(f"audit chain re-keyed: {count} entries, key {key_id(old_key)} -> "
               f"{key_id(new_key)}")
    if kept is not None:
        os.replace(pending, kept)
        click.echo(f"the new key is kept in {kept}")
    else:
        click.echo("now set CRISISLINE_AUDIT_KEY to the new key for every process and start "
                   "them")


LOG_LEVELS = ("debug", "info", "warning", "error")
# the loggers a level applies to: the web server, the sockets, Celery and Crisisline's own
LOGGERS = ("", "werkzeug", "engineio", "socketio", "celery", "kombu", "crisisline")
log_level_option = click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(LOG_LEVELS),
    help="log messages of this level and above (each request, task, tick at info)")


def configure_logging(level: str) -> None:
    """Log ``level`` and above from every part of the process."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in LOGGERS:
        logging.getLogger(name).setLevel(level.upper())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@log_level_option
@with_app
def serve(app: Flask, host: str, port: int, log_level: str):
    """Serve the web application and its Socket.IO endpoint."""
    configure_logging(log_level)
    click.echo(f"Crisisline serving on http://{host}:{port}")
    run_server(app, host, port)


LISTEN_BACKLOG = 1024  # connections the kernel holds for the server while it is busy


def run_server(app: Flask, host: str, port: int) -> None:
    """Serve ``app`` and its Socket.IO endpoint (Werkzeug, a thread per connection).

    A burst of calls after an incident opens hundreds of connections at once; Werkzeug
    listens with a backlog of 128, and connections beyond it are dropped and reset."""
    from werkzeug.serving import BaseWSGIServer

    from crisisline.extensions import socketio
    from hotline import triage_model
    BaseWSGIServer.request_queue_size = LISTEN_BACKLOG
    # the triage model takes a few seconds to load: not on the first text's webhook
    threading.Thread(target=triage_model.warm, name="warm-triage", daemon=True).start()
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True,
                 use_reloader=False, log_output=False)


@main.command()
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="run the scheduler (queue ticks, audit checks) in this worker; every "
                   "worker polls deadlines")
@click.option("--concurrency", default=2, show_default=True, type=int)
@log_level_option
@with_app
def worker(app: Flask, beat: bool, concurrency: int, log_level: str):
    """Run a Celery worker (with the scheduler unless --no-beat)."""
    from celery.signals import worker_ready
    configure_logging(log_level)
    # said at every level (``crisisline demo`` waits for it); Celery has taken sys.stdout
    worker_ready.connect(lambda **_: print(WORKER_READY, file=sys.__stdout__, flush=True),
                         weak=False)
    celery = app.extensions["celery"]
    argv = ["worker", f"--loglevel={log_level.upper()}", f"--concurrency={concurrency}"]
    if beat:
        argv.append("--beat")
    if LOG_LEVELS.index(log_level) > LOG_LEVELS.index("info"):
        argv.insert(0, "--quiet")  # Celery's start-up banner
    celery.worker_main(argv)


WORKER_READY = "Crisisline worker ready"


@main.command()
@click.option("--calls", default=10, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--texts", default=5, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--rate", default=0.5, show_default=True, type=click.FloatRange(0.01, 1000),
              help="new contacts per second")
@click.option("--high-risk", "high_risk", default=0.3, show_default=True,
              type=click.FloatRange(0, 1), help="share of callers pressing 1 / risky texts")
@click.option("--abandon", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="share of callers who hang up while waiting")
@click.option("--url", help="where the server listens (default: CRISISLINE_PUBLIC_URL; the "
              "demo on another port: e.g. --url http://127.0.0.1:8080)")
@click.option("--seed", type=int, help="repeat the same traffic")
@click.option("--text", "bodies", multiple=True,
              help="send this text from a new number (again for more), and nothing else")
@with_app
def simulate(app: Flask, calls: int, texts: int, rate: float, high_risk: float,
             abandon: float, url: str | None, seed: int | None, bodies: tuple[str, ...]):
    """Send signed Twilio webhooks (calls and texts) to a running server, as demo traffic,
    or the texts given with --text."""
    from hotline.simulator import Simulator
    config = app.config
    if not config["TWILIO_AUTH_TOKEN"]:
        raise click.ClickException("Twilio is not configured: set TWILIO_AUTH_TOKEN (the demo "
                                   "keeps its own in the instance folder)")
    hotline = config["TWILIO_FROM_NUMBER"] or DEMO_HOTLINE
    simulator = Simulator(config["PUBLIC_URL"], config["TWILIO_AUTH_TOKEN"], hotline,
                          target=url, seed=seed)
    if bodies:
        for body in bodies:
            simulator.text(body)
        report = simulator.report
    else:
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
@click.option("--port", default=5000, show_default=True, type=int,
              help="the web server's port, e.g. --port 8080 when 5000 is taken")
@click.option("--password", help="password for every demo user (random if not given)")
@click.option("--verbose", is_flag=True,
              help="log every request, task and queue tick, not only warnings and errors")
def demo(port: int, password: str | None, verbose: bool):
    """init + seed-demo + web + worker on this machine; Ctrl-C stops everything.

    Only warnings and errors are logged unless --verbose; the demo users and their
    password are printed last, once the web server and the worker are up."""
    from crisisline.accounts.passwords import generate
    from crisisline.seed import DEMO_USERS
    me = [sys.executable, "-m", "crisisline.cli"]
    password = password or generate()
    for step in (["init"], ["seed-demo", "--password", password]):
        done = subprocess.run(me + step, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise click.ClickException(f"'crisisline {step[0]}' failed")
    level = ["--log-level", "info" if verbose else "warning"]
    worker = subprocess.Popen(me + ["worker", "--concurrency=1", *level],
                              stdout=subprocess.PIPE, text=True)
    server = subprocess.Popen(me + ["serve", "--port", str(port), *level])
    children = [worker, server]
    worker_up = threading.Event()
    threading.Thread(target=_relay, args=(worker.stdout, worker_up), daemon=True).start()

    stopping = threading.Event()
    # Ctrl-C (or a service manager's SIGTERM) asks to stop; children are then ended in turn
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    url = f"http://127.0.0.1:{port}"
    announced = False
    while not stopping.is_set() and all(child.poll() is None for child in children):
        if not announced and worker_up.is_set() and _answers(url + "/login"):
            announced = True
            click.echo(f"\nCrisisline demo: open {url} (another port: crisisline demo "
                       f"--port 8080; more log: --verbose). Ctrl-C stops it.\n"
                       "The staff imported from examples/district/users.csv (e.g. vol.liu) "
                       "sign in with the same password.\n"
                       "Sign in as one of these demo users:")
            for username, role, _name, _org, _phone in DEMO_USERS:
                click.echo(f"  {username:<18} {role}")
            click.echo(f"Password for every demo user: {password}")
        stopping.wait(0.5)
    failed = not stopping.is_set()  # a child ended on its own
    if failed:
        which = "worker" if worker.poll() is not None else "web server"
        hint = "" if announced else f" (is port {port} taken? choose another with --port)"
        click.echo(f"Crisisline demo: the {which} stopped{hint}.", err=True)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
    click.echo("Crisisline demo stopped.")
    if failed:
        sys.exit(1)


def _relay(output, ready: threading.Event) -> None:
    """Pass a child's output on, noting when it says it is ready."""
    for line in output:
        if line.strip() == WORKER_READY:
            ready.set()
        else:
            sys.stdout.write(line)
            sys.stdout.flush()


def _answers(url: str) -> bool:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    try:
        with direct.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
