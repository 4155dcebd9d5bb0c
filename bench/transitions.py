"""Case transitions: a workflow event with its history row and audit entry, committed.

Each measured operation is what the case API does for ``POST /api/cases/{id}/events/{event}``
below the HTTP layer: ``casework.services.fire_event`` by the case's counselor (access
check, version check, the event's schema and rules, its deadlines, the history row, the
audit entry, the console events) and the one commit, in an application context of its own,
as a request has. Cases are opened beforehand; each is taken ``dispatch`` (reported ->
on_site) and then ``contact_guardian`` (on_site -> guardian_contact). On PostgreSQL and on
the embedded SQLite default.

The baseline is one raw single-row ``INSERT`` and its commit, at the same durability: the
same database, through a connection from the application's own engine (so SQLite has the
same WAL, busy-timeout and ``BEGIN IMMEDIATE``, PostgreSQL the same synchronous commit).
System and baseline operations alternate, so drift touches both alike. The overhead factor
is the ratio of their medians.
"""
from __future__ import annotations

import time
from datetime import timezone

from flask import g
from sqlalchemy import event

from bench import environment as env
from bench.harness import Result, Stats, measured

NAME = "case_transitions"
OVERHEAD_TARGET = 5.0
WARM_UP_CASES = 10
SCALES = {"full": {"cases": 1000}, "quick": {"cases": 150}}
DISPATCH = {"risk_level": "high", "responder": "值班辅导员", "emergency_services": ["120"]}


def run(scale: str) -> list[Result]:
    cases = SCALES[scale]["cases"]
    results = []
    with env.workdir(NAME) as folder:
        with env.fresh_schema() as database:
            results.append(_measure("postgresql", database.url, folder / "pg", cases, scale))
        sqlite_url = f"sqlite:///{folder / 'crisisline.sqlite'}"
        results.append(_measure("sqlite", sqlite_url, folder / "sqlite", cases, scale))
    return results


def _measure(backend: str, url: str, instance, cases: int, scale: str) -> Result:
    from casework import services
    from crisisline.accounts.models import User
    from crisisline.database import db, utcnow

    app = env.build_app(url, instance, env.Credentials(), init=True)
    engine = app.extensions["crisisline.engine"]
    with env.acting(app):
        centre = env.seed_centre(counselors=1, supervisors=1)
        counselor = db.get(User, centre.counselor_ids[0])
        case_ids = []
        for _ in range(cases + WARM_UP_CASES):
            case_ids.append(services.open_case(counselor, source="hotline_contact",
                                               risk_level="high").id)
            db.flush()
        db.commit()
    baseline = _Insert(engine)

    def transition(case_id: int, name: str, data: dict, version: int) -> None:
        with env.acting(app):  # a request's context: its own session
            actor = db.get(User, centre.counselor_ids[0])
            g.audit_actor = actor  # entries name the counselor, as a signed-in request's do
            services.fire_event(actor, case_id, name, data, version)
            db.commit()

    statements = _StatementCounter(engine)
    system_times, baseline_times = [], []
    for position, case_id in enumerate(case_ids):
        steps = (("dispatch", DISPATCH, 1),
                 ("contact_guardian", {"arrived_at": utcnow().astimezone(timezone.utc)
                                       .isoformat(), "watcher": "班主任"}, 2))
        for name, data, version in steps:
            statements.start()
            began = time.perf_counter()
            transition(case_id, name, data, version)
            took = time.perf_counter() - began
            statements.stop()
            began = time.perf_counter()
            baseline.one(case_id, name)
            took_baseline = time.perf_counter() - began
            if position >= WARM_UP_CASES:
                system_times.append(took)
                baseline_times.append(took_baseline)
    baseline.close()
    statements.remove()
    engine.dispose()

    system, base = Stats.of(system_times, sum(system_times)), \
        Stats.of(baseline_times, sum(baseline_times))
    result = measured(
        NAME, f"{NAME}[{backend}]",
        {"database": backend, "transitions": len(system_times),
         "events": ["dispatch", "contact_guardian"], "concurrency": 1},
        scale, system=system, baseline=base,
        baseline_name="raw single-row INSERT + commit, same engine",
        target=f"overhead factor < {OVERHEAD_TARGET:g}x", ratio_below=OVERHEAD_TARGET,
        extra={"sql_statements_per_transition": round(statements.per_operation(), 1)})
    if result.status == "fail":
        result.why = (f"{result.ratio:g}x: a transition is {statements.per_operation():.0f} "
                      "SQL round trips (the case, the access check, the deadline, the history "
                      "row, the audit chain head and entry, the console events: one INSERT "
                      "per console event on SQLite, one for all on PostgreSQL) and the ORM's "
                      "work around them, against one INSERT")
    return result


class _Insert:
    """The baseline: one row inserted and committed per operation."""

    def __init__(self, engine):
        self.sqlite = engine.dialect.name == "sqlite"
        self.connection = engine.raw_connection()  # the app's connect settings
        cursor = self.connection.cursor()
        key = "integer PRIMARY KEY" if self.sqlite else "bigserial PRIMARY KEY"
        cursor.execute(f"CREATE TABLE bench_rows (id {key}, case_id integer, "
                       "event varchar(40), data text, created_at varchar(40))")
        if not self.sqlite:
            self.connection.commit()
        cursor.close()
        self.marker = "?" if self.sqlite else "%s"

    def one(self, case_id: int, name: str) -> None:
        cursor = self.connection.cursor()
        if self.sqlite:  # the app's engine begins every transaction with BEGIN IMMEDIATE
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO bench_rows (case_id, event, data, created_at) VALUES "
                       f"({self.marker}, {self.marker}, {self.marker}, {self.marker})",
                       (case_id, name, '{"risk_level": "high"}',
                        time.strftime("%Y-%m-%dT%H:%M:%S")))
        if self.sqlite:
            cursor.execute("COMMIT")
        else:
            self.connection.commit()
        cursor.close()

    def close(self) -> None:
        self.connection.close()


class _StatementCounter:
    """How many SQL statements the measured operations sent (engine events)."""

    def __init__(self, engine):
        self.engine, self.counting, self.statements, self.operations = engine, False, 0, 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        if self.counting:
            self.statements += 1

    def start(self) -> None:
        self.counting = True
        self.operations += 1

    def stop(self) -> None:
        self.counting = False

    def per_operation(self) -> float:
        return self.statements / max(self.operations, 1)

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)
