"""Memory: per connected console, and per 10,000 queued contacts.

Per console: the resident memory (``/proc``'s VmRSS) of an application server, run as
``crisisline serve`` runs it with Redis, before and after N real consoles connect (Socket.IO
over WebSocket with a supervisor's token, as in the fan-out benchmark), divided by N; a bare
python-socketio server under the same server, with as many connections, is measured
alongside for reference.

Per 10,000 queued contacts: calls arrive through the signed voice webhooks (incoming, then
the menu: the contact is queued) from eight concurrent callers and nobody answers. Reported:
the server's memory growth; the PostgreSQL bytes added to the schema (tables and indexes:
contacts, audit entries, console events); and the Redis bytes of the routing tasks waiting
in the Celery queue (no worker runs here; with one they would be consumed). The quick scale
queues 2,000 and scales the figures to 10,000.
"""
from __future__ import annotations

import threading
import time

import redis as redis_client

from bench import environment as env
from bench.fanout import ClientPool
from bench.harness import Result, Stats
from bench.webhook_burst import Burst, TwilioSide

NAME = "memory"
CALLERS = 8
SCALES = {"full": {"consoles": 1000, "contacts": 10_000},
          "quick": {"consoles": 200, "contacts": 2_000}}


def run(scale: str) -> list[Result]:
    settings = SCALES[scale]
    credentials, redis = env.Credentials(), env.RedisNames()
    with env.workdir(NAME) as folder, env.fresh_schema() as database:
        app = env.build_app(database.url, folder / "setup", credentials, init=True)
        with env.acting(app):
            env.seed_centre(counselors=1, supervisors=1)
            token = env.api_token("b_supervisor_0")
        app.extensions["crisisline.engine"].dispose()

        port = env.free_port()
        url = f"http://127.0.0.1:{port}"
        server = env.Child("app", ["app", "--port", str(port)], env.server_env(
            database.url, folder / "instance", credentials, public_url=url, redis=redis),
            folder)
        try:
            server.wait_http(url + "/login")
            # the queue first: threads of closed console connections free memory afterwards
            queued = _per_queued_contacts(server, url, credentials, database, redis,
                                          settings["contacts"])
            consoles = _per_console(server, url, token, settings["consoles"])
            raw = _raw_socketio_per_connection(folder, settings["consoles"])
        finally:
            server.stop()
            redis.clean()
    return [_console_result(consoles, raw, settings["consoles"], scale),
            _queue_result(queued, settings["contacts"], scale)]


def _per_console(server: env.Child, url: str, token: str, count: int) -> dict:
    with ClientPool("socketio", [url], 10, token=token):  # imports and caches warmed
        pass
    time.sleep(1)
    before = env.rss_bytes(server.pid)
    with ClientPool("socketio", [url], count, token=token) as pool:
        time.sleep(2)
        after = env.rss_bytes(server.pid)
        connected = pool.connected
    return {"before": before, "after": after, "connected": connected}


def _raw_socketio_per_connection(folder, count: int) -> float:
    port = env.free_port()
    url = f"http://127.0.0.1:{port}"
    bare = env.Child("raw-socketio", ["raw-socketio", "--port", str(port)], {}, folder)
    try:
        bare.wait_http(url + "/login")
        with ClientPool("socketio", [url], 10):
            pass
        time.sleep(1)
        before = env.rss_bytes(bare.pid)
        with ClientPool("socketio", [url], count) as pool:
            time.sleep(2)
            return (env.rss_bytes(bare.pid) - before) / max(pool.connected, 1)
    finally:
        bare.stop()


def _per_queued_contacts(server: env.Child, url: str, credentials: env.Credentials,
                         database: env.Database, redis: env.RedisNames, contacts: int) -> dict:
    twilio = TwilioSide(url, credentials.twilio_token)
    twilio.burst(10)  # the webhook code paths warmed before the first reading
    before = {"rss": env.rss_bytes(server.pid), "database": _schema_bytes(database),
              "redis": _queue_bytes(redis)}
    remaining, lock, burst = iter(range(contacts)), threading.Lock(), Burst()

    def caller() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            twilio.call(burst, lock)

    began = time.monotonic()
    callers = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    took = time.monotonic() - began
    return {"rss": env.rss_bytes(server.pid) - before["rss"],
            "database": _schema_bytes(database) - before["database"],
            "redis": _queue_bytes(redis) - before["redis"], "queued": _queued(database),
            "errors": len(burst.errors), "seconds": round(took, 1),
            "webhook_ms": Stats.of(burst.latencies["incoming"] + burst.latencies["menu"])}


def _schema_bytes(database: env.Database) -> int:
    with database.connect() as connection:
        return int(connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(format('%%I.%%I', schemaname, "
            "tablename))), 0) FROM pg_tables WHERE schemaname = %s",
            (database.schema,)).fetchone()[0])


def _queue_bytes(redis: env.RedisNames) -> int:
    client = redis_client.Redis.from_url(redis.url)
    try:
        return client.memory_usage(redis.queue) or 0
    finally:
        client.close()


def _queued(database: env.Database) -> int:
    with database.connect() as connection:
        return connection.execute("SELECT count(*) FROM contacts WHERE status = 'queued'"
                                  ).fetchone()[0]


def _console_result(measured_: dict, raw_per_connection: float, count: int, scale: str
                    ) -> Result:
    per_console = (measured_["after"] - measured_["before"]) / max(measured_["connected"], 1)
    return Result(
        benchmark=NAME, name=f"{NAME}[per_console]",
        parameters={"consoles": count, "transport": "websocket",
                    "server": "crisisline serve (Werkzeug, threaded), Redis"},
        scale=scale, status="reported", target="reported",
        baseline_name="bare python-socketio server, same connections (reference)",
        why=f"{per_console / 1024:.0f} KB of server memory per connected console "
            f"({measured_['connected']} connected; bare python-socketio "
            f"{raw_per_connection / 1024:.0f} KB per connection)",
        extra={"server_rss_before_mb": round(measured_["before"] / 2**20, 1),
               "server_rss_after_mb": round(measured_["after"] / 2**20, 1),
               "connected": measured_["connected"],
               "kb_per_console": round(per_console / 1024, 1),
               "raw_socketio_kb_per_connection": round(raw_per_connection / 1024, 1)})


def _queue_result(measured_: dict, contacts: int, scale: str) -> Result:
    factor = 10_000 / contacts
    mb = {key: round(measured_[key] * factor / 2**20, 1) for key in ("rss", "database", "redis")}
    stats = measured_["webhook_ms"]
    return Result(
        benchmark=NAME, name=f"{NAME}[per_10000_queued_contacts]",
        parameters={"contacts_queued": contacts, "scaled_to": 10_000,
                    "arrivals": f"signed webhooks from {CALLERS} concurrent callers"},
        scale=scale, status="reported" if not measured_["errors"] else "fail",
        target="reported",
        why=(f"per 10,000 queued: server +{mb['rss']} MB, PostgreSQL +{mb['database']} MB, "
             f"Redis routing tasks {mb['redis']} MB"
             + (f" (measured on {contacts:,}, scaled)" if factor != 1 else "")
             + (f"; {measured_['errors']} webhooks failed" if measured_["errors"] else "")),
        extra={"server_rss_growth_mb": mb["rss"], "postgresql_mb": mb["database"],
               "redis_queue_mb": mb["redis"], "contacts_queued": measured_["queued"],
               "queueing_took_s": measured_["seconds"],
               "webhook_ms": {"p50": stats.p50, "p95": stats.p95, "p99": stats.p99}})
