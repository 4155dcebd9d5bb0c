"""Webhook burst: 50 / 200 / 500 calls arriving at once, as Twilio's signed webhooks.

Each simulated call is what Twilio sends when a call comes in: ``/twilio/voice/incoming``
(the contact is created and audited, the greeting TwiML answered) and then
``/twilio/voice/menu`` (the caller's choice: the contact is queued and audited, the queue
change is pushed to the consoles through Redis, routing is sent to Celery, the ``<Enqueue>``
TwiML answered). Both are signed with Twilio's ``RequestValidator``, as
``hotline.simulator`` signs them, and sent to the application run as ``crisisline serve``
runs it, on PostgreSQL and Redis, over a new connection each (as Twilio's requests come).

The baseline is a bare Flask app answering the same two paths with the same TwiML, fixed,
under the same Werkzeug server, hit by the same client in the same run. Bursts of the two
alternate, so drift on a shared machine touches both alike. No Celery worker runs: the
routing messages wait in the benchmark's own queue and are dropped at the end.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import requests
from twilio.request_validator import RequestValidator

from bench import environment as env
from bench.harness import Result, Stats, measured

NAME = "webhook_burst"
TARGET_CONCURRENCY = 200
SCALES = {
    # bursts per concurrency level: enough calls for a p99 at every level
    "full": {"concurrency": [50, 200, 500], "bursts": {50: 20, 200: 5, 500: 2}},
    "quick": {"concurrency": [50, 200, 500], "bursts": {50: 6, 200: 2, 500: 1}},
}
WARM_UP_CALLS = 20


@dataclass
class Burst:
    """What one burst's requests measured (seconds), by webhook."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"incoming": [],
                                                                       "menu": []})
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


class TwilioSide:
    """Twilio's side of incoming calls, signed for the server's public URL."""

    def __init__(self, base_url: str, auth_token: str):
        self.base_url = base_url
        self.validator = RequestValidator(auth_token)

    def post(self, path: str, params: dict) -> requests.Response:
        signature = self.validator.compute_signature(self.base_url + path, params)
        return requests.post(self.base_url + path, data=params, timeout=60,
                             headers={"X-Twilio-Signature": signature, "Connection": "close"})

    def call(self, burst: Burst, lock: threading.Lock, start: threading.Barrier | None = None
             ) -> None:
        """One call arriving: the incoming webhook, then the caller's menu choice."""
        sid = "CA" + uuid.uuid4().hex
        params = {"CallSid": sid, "AccountSid": env.TWILIO_SID, "From": _caller(sid),
                  "To": env.HOTLINE, "Direction": "inbound", "ApiVersion": "2010-04-01"}
        steps = [("incoming", "/twilio/voice/incoming", {**params, "CallStatus": "ringing"}),
                 ("menu", "/twilio/voice/menu", {**params, "CallStatus": "in-progress"})]
        if start is not None:
            start.wait()
        for kind, path, data in steps:
            began = time.perf_counter()
            try:
                response = self.post(path, data)
                problem = f"HTTP {response.status_code}" if response.status_code >= 400 else None
            except requests.RequestException as error:
                problem = f"{error.__class__.__name__}: {error}"
            took = time.perf_counter() - began
            with lock:
                if problem:
                    burst.errors.append(f"{path}: {problem}")
                    return
                burst.latencies[kind].append(took)

    def burst(self, concurrency: int) -> Burst:
        """``concurrency`` calls released at once, each on a thread of its own."""
        burst, lock = Burst(), threading.Lock()
        start = threading.Barrier(concurrency + 1)
        threads = [threading.Thread(target=self.call, args=(burst, lock, start))
                   for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        burst.elapsed = time.perf_counter() - began
        return burst


def _caller(sid: str) -> str:
    return "+86139" + str(int(sid[2:10], 16) % 10**8).zfill(8)


def run(scale: str) -> list[Result]:
    settings = SCALES[scale]
    credentials, redis = env.Credentials(), env.RedisNames()
    with env.workdir(NAME) as folder, env.fresh_schema() as database:
        app = env.build_app(database.url, folder / "setup", credentials, init=True)
        with env.acting(app):
            env.seed_centre(volunteers=0)
        app.extensions["crisisline.engine"].dispose()

        port, baseline_port = env.free_port(), env.free_port()
        system_url = f"http://127.0.0.1:{port}"
        server = env.Child("app", ["app", "--port", str(port)], env.server_env(
            database.url, folder / "instance", credentials, public_url=system_url, redis=redis),
            folder)
        bare = env.Child("static-twiml", ["static-twiml", "--port", str(baseline_port)], {},
                         folder)
        try:
            server.wait_http(system_url + "/login")
            bare.wait_http(f"http://127.0.0.1:{baseline_port}/login")
            system = TwilioSide(system_url, credentials.twilio_token)
            baseline = TwilioSide(f"http://127.0.0.1:{baseline_port}", credentials.twilio_token)
            for side in (system, baseline):  # connections, pools and caches warmed alike
                side.burst(WARM_UP_CALLS)
            unloaded = {"system": _one_at_a_time(system), "baseline": _one_at_a_time(baseline)}
            results = [_level(system, baseline, concurrency, settings["bursts"][concurrency],
                              scale, server) for concurrency in settings["concurrency"]]
            queued = _queued_contacts(database)
        finally:
            server.stop()
            bare.stop()
            redis.clean()
    for result in results:
        result.extra.update(contacts_queued_in_database=queued, one_call_at_a_time_ms=unloaded)
    return results


def _level(system: TwilioSide, baseline: TwilioSide, concurrency: int, bursts: int,
           scale: str, server: env.Child) -> Result:
    measured_system, measured_baseline = Burst(), Burst()
    for _ in range(bursts):  # alternate, so drift touches both alike
        for side, total in ((system, measured_system), (baseline, measured_baseline)):
            burst = side.burst(concurrency)
            for kind, values in burst.latencies.items():
                total.latencies[kind].extend(values)
            total.errors.extend(burst.errors)
            total.elapsed += burst.elapsed
    system_stats = _stats(measured_system)
    baseline_stats = _stats(measured_baseline)
    at_target = concurrency == TARGET_CONCURRENCY
    # below and above the target's level the numbers are reported; failed webhooks fail it
    checks = {"no failed webhooks": not measured_system.errors} \
        if at_target or measured_system.errors else {}
    return measured(
        NAME, f"{NAME}[concurrency={concurrency}]",
        {"concurrent_calls": concurrency, "bursts": bursts,
         "webhooks_per_call": ["/twilio/voice/incoming", "/twilio/voice/menu"],
         "database": "postgresql", "server": "crisisline serve (Werkzeug, threaded)"},
        scale, system=system_stats, baseline=baseline_stats,
        baseline_name="bare Flask static TwiML, same server",
        target="p99 < 100 ms" if at_target else "reported",
        check=(lambda stats: stats.p99 is not None and stats.p99 < 100) if at_target else None,
        extra_checks=checks,
        why=_why(measured_system, system_stats, at_target),
        extra={"by_webhook_ms": {kind: _brief(Stats.of(values))
                                 for kind, values in measured_system.latencies.items()},
               "errors": len(measured_system.errors),
               "first_errors": measured_system.errors[:3],
               "baseline_errors": len(measured_baseline.errors),
               "server_rss_mb": round(env.rss_bytes(server.pid) / 2**20, 1)})


def _one_at_a_time(side: TwilioSide, calls: int = 30) -> dict:
    """Webhook latency with nothing else going on: the service time a burst queues for."""
    burst, lock = Burst(), threading.Lock()
    for _ in range(calls):
        side.call(burst, lock)
    return _brief(_stats(burst))


def _stats(burst: Burst) -> Stats:
    return Stats.of(burst.latencies["incoming"] + burst.latencies["menu"], burst.elapsed)


def _brief(stats: Stats) -> dict:
    return {"p50": stats.p50, "p95": stats.p95, "p99": stats.p99}


def _why(burst: Burst, stats: Stats, at_target: bool) -> str:
    if burst.errors:
        return f"{len(burst.errors)} webhooks failed, first: {burst.errors[0]}"
    if at_target and stats.p99 is not None and stats.p99 >= 100:
        webhooks = sum(len(values) for values in burst.latencies.values())
        return (f"throughput plateaus near {stats.throughput_per_s:.0f} webhooks/s, so a burst "
                "queues for seconds: each webhook is about a dozen SQL round trips and its "
                "Python work on 2 cores shared with PostgreSQL and the clients; the bare "
                "Flask baseline queues too at this concurrency (see bench/README.md); "
                f"{webhooks} webhooks measured")
    return ""


def _queued_contacts(database: env.Database) -> int:
    with database.connect() as connection:
        return connection.execute("SELECT count(*) FROM contacts WHERE status = 'queued'"
                                  ).fetchone()[0]
