"""Console fan-out: one event to 100 / 500 / 1,000 connected consoles, one process and two
processes with Redis; commit -> receipt.

The consoles are real Socket.IO clients (python-socketio's asyncio client over WebSocket,
spread over two client processes), each connected to ``/console`` with a supervisor's
Bearer token, so the server puts them in the centre's ``supervisors`` room. The event is
real too: a counselor opens a case through ``POST /api/cases``; after its commit the case's
``case.updated`` goes to that room. With two processes the consoles are split between two
application servers sharing Redis (the benchmark's own channel) and the event is caused in
the first. Commit -> receipt runs from the event's row in the console event log (written in
the transaction, just before its commit, so the figure includes the commit) to the moment
each console's handler runs; one clock, one machine.

Baselines, with the same clients, counts and processes, in the same run: a bare
python-socketio server under the same Werkzeug server (two of them sharing Redis for the
two-process case) emitting the same payload to one room, timed from just before the emit;
and raw Redis PUBLISH -> SUBSCRIBE to as many subscriber connections, timed from just
before the publish. The ratio is to the python-socketio baseline.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from contextlib import contextmanager
from dataclasses import dataclass

import redis as redis_client
import requests

from bench import environment as env
from bench.harness import Result, Stats, measured

NAME = "console_fanout"
CLIENT_PROCESSES = 2
CONNECTING_AT_ONCE = 25  # per client process
TARGET_CLIENTS, TARGET_MS = 500, 100
SCALES = {
    "full": {"clients": [100, 500, 1000], "events": 20, "gap_s": 1.0},
    "quick": {"clients": [100, 500], "events": 15, "gap_s": 0.6},
}


@dataclass
class Delivery:
    """Receipt latencies (seconds) and how many of the expected receipts never came."""

    latencies: list[float]
    expected: int
    connected: int

    @property
    def missing(self) -> int:
        return self.expected - len(self.latencies)


def run(scale: str) -> list[Result]:
    settings = SCALES[scale]
    results = []
    for processes in (1, 2):
        for clients in settings["clients"]:
            results.append(_configuration(processes, clients, settings, scale))
    return results


def _configuration(processes: int, clients: int, settings: dict, scale: str) -> Result:
    events, gap = settings["events"], settings["gap_s"]
    credentials, redis = env.Credentials(), env.RedisNames()
    with env.workdir(NAME) as folder, env.fresh_schema() as database:
        app = env.build_app(database.url, folder / "setup", credentials, init=True)
        with env.acting(app):
            env.seed_centre(counselors=1, supervisors=1)
            supervisor, counselor = env.api_token("b_supervisor_0"), env.api_token(
                "b_counselor_0")
        app.extensions["crisisline.engine"].dispose()

        with _servers("app", processes, folder, database, credentials, redis) as urls:
            rss_before = [env.rss_bytes(pid) for pid in urls.values()]
            with ClientPool("socketio", list(urls), clients, token=supervisor) as pool:
                rss_after = [env.rss_bytes(pid) for pid in urls.values()]
                first = next(iter(urls))
                for _ in range(events):
                    response = requests.post(
                        f"{first}/api/cases", json={"source": "hotline_contact",
                                                    "risk_level": "high"},
                        headers={"Authorization": f"Bearer {counselor}"}, timeout=30)
                    response.raise_for_status()
                    time.sleep(gap)
                receipts = pool.receipts()
            system = _system_delivery(database, receipts, pool.connected, events)
        with _servers("raw-socketio", processes, folder, None, credentials, redis) as urls:
            with ClientPool("socketio", list(urls), clients) as pool:
                first = next(iter(urls))
                for number in range(events):
                    requests.post(f"{first}/emit", json={"case_id": number, "state": "reported",
                                                         "event_id": number}, timeout=30)
                    time.sleep(gap)
                raw_socketio = _sent_at_delivery(pool.receipts(), pool.connected, events)
        with ClientPool("redis", [redis.url], clients, channel=redis.channel) as pool:
            publisher = redis_client.Redis.from_url(redis.url)
            for number in range(events):
                publisher.publish(redis.channel, json.dumps(
                    {"case_id": number, "state": "reported", "event_id": number,
                     "sent_at": time.time()}))
                time.sleep(gap)
            publisher.close()
            raw_redis = _sent_at_delivery(pool.receipts(), pool.connected, events)

    system_stats = Stats.of(system.latencies)
    redis_stats = Stats.of(raw_redis.latencies)
    at_target = clients == TARGET_CLIENTS
    checks = {"every console connected": system.connected == clients,
              "every console got every event": system.missing == 0}
    trouble = system.missing or system.connected < clients
    per_console = (sum(rss_after) - sum(rss_before)) / max(system.connected, 1)
    result = measured(
        NAME, f"{NAME}[processes={processes},clients={clients}]",
        {"clients": clients, "server_processes": processes, "events": events,
         "message_queue": "redis" if processes == 2 else "none (one process)",
         "transport": "websocket", "client_processes": CLIENT_PROCESSES},
        scale, system=system_stats, baseline=Stats.of(raw_socketio.latencies),
        baseline_name="raw python-socketio emit, same server",
        target=f"commit->receipt p99 < {TARGET_MS} ms" if at_target else "reported",
        check=(lambda stats: stats.p99 is not None and stats.p99 < TARGET_MS)
        if at_target else None,
        extra_checks=checks if at_target or trouble else {},
        extra={"connected": system.connected, "missing_receipts": system.missing,
               "baseline_missing_receipts": raw_socketio.missing,
               "raw_redis_pubsub_ms": {"p50": redis_stats.p50, "p95": redis_stats.p95,
                                       "p99": redis_stats.p99},
               "ratio_to_raw_redis": round(system_stats.p50 / redis_stats.p50, 1)
               if redis_stats.p50 else None,
               "server_rss_per_console_kb": round(per_console / 1024, 1)})
    if trouble:
        result.why = (f"{system.connected} of {clients} consoles connected; "
                      f"{system.missing} of {system.expected} receipts never arrived")
    elif result.status == "fail":
        baseline_stats = result.baseline
        result.why = (f"p99 {system_stats.p99:g} ms; the bare python-socketio emit to the same "
                      f"{clients} consoles has p99 {baseline_stats.p99:g} ms here and raw Redis "
                      f"pub/sub p99 {redis_stats.p99:g} ms: the server sends to one socket "
                      "after another, and the consoles' processes share the same 2 cores")
    return result


@contextmanager
def _servers(kind: str, count: int, folder, database: env.Database | None,
             credentials: env.Credentials, redis: env.RedisNames):
    """``count`` servers of ``kind`` (sharing Redis when more than one); yields their base
    URLs, each with its process id."""
    children, urls = [], {}
    try:
        for number in range(count):
            port = env.free_port()
            url = f"http://127.0.0.1:{port}"
            if kind == "app":
                child = env.Child(f"app-{number}", ["app", "--port", str(port)], env.server_env(
                    database.url, folder / f"instance-{number}", credentials, public_url=url,
                    redis=redis if count > 1 else None), folder)
            else:
                relay = ["--redis", redis.url, "--channel", redis.channel] if count > 1 else []
                child = env.Child(f"raw-{number}", ["raw-socketio", "--port", str(port),
                                                    *relay], {}, folder)
            children.append(child)
            urls[url] = child.pid
        for url, child in zip(urls, children):
            child.wait_http(url + "/login")
        yield urls
    finally:
        for child in children:
            child.stop()
        redis.clean()


def _system_delivery(database: env.Database, receipts: list, connected: int, events: int
                     ) -> Delivery:
    """Latencies from each event's row in the console event log to each receipt."""
    with database.connect() as connection:
        written = dict(connection.execute(
            "SELECT id, extract(epoch FROM created_at) FROM console_events "
            "WHERE name = 'case.updated' AND room LIKE 'supervisors:%'").fetchall())
    latencies = [received - float(written[event_id]) for event_id, received, _ in receipts
                 if event_id in written]
    return Delivery(latencies, connected * events, connected)


def _sent_at_delivery(receipts: list, connected: int, events: int) -> Delivery:
    return Delivery([received - sent for _, received, sent in receipts], connected * events,
                    connected)


class ClientPool:
    """``count`` consoles (``socketio``) or Redis subscribers (``redis``), spread over
    ``CLIENT_PROCESSES`` processes and over ``targets`` (round robin), connected on entry.

    Each receipt is ``(event_id, time received, sent_at or None)``."""

    def __init__(self, kind: str, targets: list[str], count: int, *, token: str | None = None,
                 channel: str | None = None):
        context = multiprocessing.get_context("spawn")
        self.stop, self.out = context.Event(), context.Queue()
        shares = [count // CLIENT_PROCESSES + (index < count % CLIENT_PROCESSES)
                  for index in range(CLIENT_PROCESSES)]
        self.processes = [context.Process(target=_client_process, args=(
            kind, targets, index, share, token, channel, self.stop, self.out))
            for index, share in enumerate(shares)]
        self.connected = 0
        self._receipts: list | None = None

    def __enter__(self) -> "ClientPool":
        for process in self.processes:
            process.start()
        self.connected = sum(self.out.get(timeout=300) for _ in self.processes)
        return self

    def receipts(self) -> list:
        """Stop listening (after a moment for stragglers) and gather every receipt."""
        if self._receipts is None:
            time.sleep(2)
            self.stop.set()
            self._receipts = [item for _ in self.processes for item in self.out.get(timeout=120)]
        return self._receipts

    def __exit__(self, *_exc) -> None:
        self.receipts()
        for process in self.processes:
            process.join(timeout=60)


def _client_process(kind: str, targets: list[str], index: int, count: int, token: str | None,
                    channel: str | None, stop, out) -> None:
    asyncio.run(_clients(kind, targets, index, count, token, channel, stop, out))


async def _clients(kind: str, targets: list[str], index: int, count: int, token: str | None,
                   channel: str | None, stop, out) -> None:
    receipts: list = []
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    if kind == "socketio":
        connections = await asyncio.gather(*(
            _console(targets[(index + number * CLIENT_PROCESSES) % len(targets)], token,
                     receipts, gate) for number in range(count)))
    else:
        connections = await asyncio.gather(*(_subscriber(targets[0], channel, receipts, gate)
                                             for _ in range(count)))
    live = [connection for connection in connections if connection is not None]
    out.put(len(live))
    await asyncio.to_thread(stop.wait)
    out.put(receipts)
    await asyncio.gather(*(connection.close() for connection in live), return_exceptions=True)


class _Console:
    def __init__(self, client):
        self.client = client

    async def close(self) -> None:
        await self.client.disconnect()


async def _console(url: str, token: str | None, receipts: list, gate: asyncio.Semaphore):
    import socketio
    client = socketio.AsyncClient(reconnection=False)

    @client.on("case.updated", namespace="/console")
    async def received(data):
        receipts.append((data.get("event_id"), time.time(), data.get("sent_at")))

    headers = {"Origin": url}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with gate:
        try:
            await client.connect(url, namespaces=["/console"], headers=headers,
                                 transports=["websocket"], wait_timeout=60)
        except socketio.exceptions.ConnectionError:
            return None
    return _Console(client)


class _Subscriber:
    def __init__(self, client, listening: asyncio.Task):
        self.client, self.listening = client, listening

    async def close(self) -> None:
        self.listening.cancel()
        await self.client.aclose()


async def _subscriber(url: str, channel: str, receipts: list, gate: asyncio.Semaphore):
    from redis import asyncio as aioredis
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    async with gate:
        await pubsub.subscribe(channel)

    async def listen():
        async for message in pubsub.listen():
            if message["type"] == "message":
                received = time.time()
                data = json.loads(message["data"])
                receipts.append((data["event_id"], received, data["sent_at"]))
    return _Subscriber(client, asyncio.create_task(listen()))
