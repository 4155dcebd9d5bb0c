"""Durable deadlines: 100,000 deadlines due over a window, workers killed and restarted
during it.

Each deadline is a "responder on site" deadline of a case of its own (generated in SQL), due
at a moment spread evenly over the window. Two Celery workers run as production runs them:
one with the scheduler (``crisisline worker``), one without (``--no-beat``), on PostgreSQL
and Redis (the benchmark's own queue). A third of the way into the window the scheduler's
worker is killed with SIGKILL (pool and all) and started again 5 s later; at two thirds the
other is. Every fired deadline raises two alerts (the case's owner and the centre's
supervisor) and texts each through Twilio's REST API (recorded locally, never sent).

Measured from the database and the recorded texts once the window and a grace period are
over (or earlier, once every deadline has fired): lateness (when the poll that fired a
deadline began, minus when it was due); missed (deadlines still unfired at the end); and
duplicate effects (a deadline audited twice, an alert raised twice for one recipient, a
text sent twice). The baseline is the scheduler's own poll interval: the ratio is the p99
lateness over it.
"""
from __future__ import annotations

import json
import time
from collections import Counter

from bench import environment as env
from bench.harness import Result, Stats
from casework.policy import Policy

NAME = "durable_deadlines"
POLL_S = Policy().deadline_poll_seconds  # every worker asks for a poll this often
TARGET = "lateness p99 < 2 s; missed = 0; duplicate effects = 0"
LEAD_S = 20  # workers are up before the first deadline is due
RESTART_AFTER_S = 5
SCALES = {"full": {"deadlines": 100_000, "window_s": 300, "grace_s": 300},
          "quick": {"deadlines": 2_000, "window_s": 60, "grace_s": 60}}


def run(scale: str) -> list[Result]:
    settings = SCALES[scale]
    credentials, redis = env.Credentials(), env.RedisNames()
    with env.workdir(NAME) as folder, env.fresh_schema() as database:
        app = env.build_app(database.url, folder / "setup", credentials, init=True)
        with env.acting(app):
            centre = env.seed_centre(counselors=1, supervisors=1)
        first_due = _generate(database, centre, settings["deadlines"], settings["window_s"])

        environment = env.server_env(database.url, folder / "instance", credentials,
                                     public_url="http://127.0.0.1:5000", redis=redis)
        workers = {"beat": ["worker", "--concurrency", "2"],
                   "no-beat": ["worker", "--no-beat", "--concurrency", "2"]}
        running = {name: env.Child(f"worker-{name}", args, environment, folder)
                   for name, args in workers.items()}
        kills, progress = [], []
        try:
            window, grace = settings["window_s"], settings["grace_s"]
            plan = [(window / 3, "beat"), (2 * window / 3, "no-beat")]
            while True:
                now = time.time() - first_due
                pending = _pending(database)
                progress.append((round(now), pending))
                if plan and now >= plan[0][0]:
                    _, name = plan.pop(0)
                    running[name].kill()
                    kills.append({"worker": name, "at_s": round(now, 1)})
                    time.sleep(RESTART_AFTER_S)
                    running[name] = env.Child(f"worker-{name}-restarted", workers[name],
                                              environment, folder)
                    continue
                if (pending == 0 and now > window) or now > window + grace:
                    break
                time.sleep(2)
            time.sleep(max(POLL_S, 10))  # the texts of the last polls go out
        finally:
            for child in running.values():
                child.stop()
            redis.clean()
        chain_ok = _audit_chain_intact(app)
        app.extensions["crisisline.engine"].dispose()
        return [_result(database, folder / "instance" / "twilio-outbox.jsonl", settings,
                        kills, progress, chain_ok, scale)]


def _generate(database: env.Database, centre: env.Centre, count: int, window_s: int) -> float:
    """One case per deadline, owned by the counselor; due evenly from ``LEAD_S`` from now
    over ``window_s``. Returns when the first is due (Unix time)."""
    with database.connect() as connection:
        first_due = connection.execute(
            "SELECT extract(epoch FROM now() + %s * interval '1 second')", (LEAD_S,)
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO cases (centre_id, source, risk_level, state, summary, owner_id, "
            "team_id, responder, version, created_at, updated_at, danger_to_others, "
            "daily_reports) SELECT %(centre)s, 'hotline_contact', 'high', 'on_site', '', "
            "%(owner)s, %(team)s, '值班辅导员', 2, now(), now(), false, false "
            "FROM generate_series(1, %(count)s)",
            {"centre": centre.centre_id, "owner": centre.counselor_ids[0],
             "team": centre.team_id, "count": count})
        connection.execute(
            "INSERT INTO deadlines (case_id, kind, due_at, status, created_at) SELECT id, "
            "'responder_on_site', to_timestamp(%(first)s) + (row_number() OVER (ORDER BY id) "
            "- 1) * %(step)s * interval '1 second', 'pending', now() FROM cases",
            {"first": float(first_due), "step": window_s / count})
        connection.commit()
        connection.execute("ANALYZE")
        connection.commit()
    return float(first_due)


def _pending(database: env.Database) -> int:
    with database.connect() as connection:
        return connection.execute("SELECT count(*) FROM deadlines WHERE status = 'pending'"
                                  ).fetchone()[0]


def _result(database: env.Database, outbox, settings: dict, kills: list, progress: list,
            chain_ok: bool, scale: str) -> Result:
    with database.connect() as connection:
        lateness = [float(row[0]) for row in connection.execute(
            "SELECT extract(epoch FROM settled_at - due_at) FROM deadlines "
            "WHERE status = 'fired'")]
        unfired = connection.execute("SELECT count(*) FROM deadlines WHERE status = 'pending'"
                                     ).fetchone()[0]
        audited_twice = connection.execute(
            "SELECT count(*) FROM (SELECT object_id FROM audit_entries WHERE action = "
            "'deadline.missed' GROUP BY object_id HAVING count(*) > 1) AS twice").fetchone()[0]
        alerted_twice = connection.execute(
            "SELECT count(*) FROM (SELECT deadline_id, recipient_id FROM alerts GROUP BY "
            "deadline_id, recipient_id HAVING count(*) > 1) AS twice").fetchone()[0]
        sms = dict(connection.execute(
            "SELECT coalesce(sms_status, 'not yet'), count(*) FROM alerts GROUP BY 1"))
    texts = Counter()
    if outbox.exists():
        for line in outbox.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)["data"]
            texts[(data.get("To"), data.get("Body"))] += 1
    texted_twice = sum(1 for count in texts.values() if count > 1)

    stats = Stats.of(lateness)  # seconds -> the harness's milliseconds
    duplicates = audited_twice + alerted_twice + texted_twice
    checks = {"lateness p99 < 2 s": stats.p99 is not None and stats.p99 < 2000,
              "missed = 0": unfired == 0, "duplicate effects = 0": duplicates == 0,
              "audit chain intact": chain_ok}
    failed = [label for label, ok in checks.items() if not ok]
    ratio = round(stats.p99 / (POLL_S * 1000), 2) if stats.p99 is not None else None
    needed = settings["deadlines"] / settings["window_s"]
    why = []
    if "lateness p99 < 2 s" in failed:
        why.append(f"{needed:.0f} deadlines fall due per second, each raising two alerts "
                   "and two texts, and the workers (two, each killed once) fall behind")
    if unfired:
        why.append(f"{unfired:,} still unfired when the run ended")
    if not chain_ok:
        why.append("the audit chain does not verify")
    if duplicates:
        why.append(f"duplicates: {audited_twice} audited twice, {alerted_twice} alerted "
                   f"twice, {texted_twice} texted twice")
    return Result(
        benchmark=NAME, name=f"{NAME}[deadlines={settings['deadlines']}]",
        parameters={"deadlines": settings["deadlines"], "window_s": settings["window_s"],
                    "grace_s": settings["grace_s"], "workers": "one with beat, one without",
                    "kills": "SIGKILL at 1/3 (beat worker) and 2/3 (other), restart after "
                             f"{RESTART_AFTER_S} s", "database": "postgresql"},
        scale=scale, status="fail" if failed else "pass", target=TARGET, system=stats,
        baseline_name=f"the scheduler's poll interval ({POLL_S} s)",
        ratio=ratio, ratio_basis="p99 lateness / poll interval",
        why="; ".join(why),
        extra={"fired": len(lateness), "unfired_at_end": unfired,
               "audited_twice": audited_twice, "alerted_twice": alerted_twice,
               "texted_twice": texted_twice, "texts_recorded": sum(texts.values()),
               "alert_sms_status": sms, "audit_chain_intact": chain_ok, "kills": kills,
               "pending_over_time": progress[:: max(1, len(progress) // 40)]})


def _audit_chain_intact(app) -> bool:
    """``crisisline audit verify``: the whole chain walked, every hash checked."""
    from crisisline.audit import verify_chain
    with env.acting(app):
        return verify_chain().ok
