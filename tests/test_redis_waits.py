"""Bounded waits on Redis: every client has socket timeouts, a failed send pauses further
sends for a moment, and rate limits are counted in memory while Redis fails.

(A frozen Redis end to end: ``tests/faults/test_redis_frozen.py``.)
"""
from __future__ import annotations

import json
import socket
import time

import pytest
import redis

from crisisline import rate_limits, redis_waits
from crisisline.realtime import ConsoleQueue
from hotline.chat import MESSAGE_RATE
from tests.conftest import TEST_REDIS_URL


@pytest.fixture(autouse=True)
def _no_pause():
    redis_waits.pause.reset()
    yield
    redis_waits.pause.reset()


def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_celery_waits_on_redis_boundedly_and_retries_a_publish_once(app):
    conf = app.extensions["celery"].conf
    if not TEST_REDIS_URL:  # the embedded broker is a file: left as Celery has it
        assert not conf.broker_transport_options
        assert conf.task_publish_retry_policy["max_retries"] == 3
        return
    assert conf.broker_transport_options["socket_timeout"] == redis_waits.COMMAND_TIMEOUT
    assert conf.broker_transport_options["socket_connect_timeout"] == \
        redis_waits.CONNECT_TIMEOUT
    assert conf.broker_connection_timeout == redis_waits.CONNECT_TIMEOUT
    assert conf.task_publish_retry_policy["max_retries"] == 1
    assert 0 < redis_waits.COMMAND_TIMEOUT <= 2 and 0 < redis_waits.CONNECT_TIMEOUT <= 2


def test_the_rate_limiter_falls_back_to_memory_with_bounded_waits_on_redis(app):
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is True
    if TEST_REDIS_URL:
        assert app.config["RATELIMIT_STORAGE_OPTIONS"] == redis_waits.client_options()


def test_the_console_queue_publishes_with_timeouts_and_listens_without_a_read_timeout():
    queue = ConsoleQueue(f"redis://127.0.0.1:{closed_port()}/0", channel="test")
    queue._redis_connect()  # clients only: nothing is connected yet
    publishing = queue.redis.connection_pool.connection_kwargs
    listening = queue.pubsub.connection_pool.connection_kwargs
    assert publishing["socket_timeout"] == redis_waits.COMMAND_TIMEOUT
    assert publishing["socket_connect_timeout"] == redis_waits.CONNECT_TIMEOUT
    assert listening.get("socket_timeout") is None  # a subscription waits for messages
    assert listening["socket_connect_timeout"] == redis_waits.CONNECT_TIMEOUT
    assert listening["socket_keepalive"] is True


def test_a_publish_redis_refuses_pauses_publishing_and_the_next_ones_wait_for_nothing():
    queue = ConsoleQueue(f"redis://127.0.0.1:{closed_port()}/0", channel="test")
    queue.json = json
    assert queue._publish({"method": "emit"}) is None  # given up, not raised
    assert redis_waits.pause.active()

    published = []
    queue.redis.publish = lambda *args: published.append(args)
    started = time.monotonic()
    for _ in range(20):
        assert queue._publish({"method": "emit"}) is None
    assert published == [] and time.monotonic() - started < 0.5

    redis_waits.pause.reset()  # the pause is over: Redis is tried again
    queue.connected = True
    queue._publish({"method": "emit"})
    assert len(published) == 1


class FailingLimiter:
    """Flask-Limiter's limiter while Redis fails: each count raises."""

    def __init__(self):
        self.calls = 0

    @property
    def limiter(self):
        return self

    def hit(self, *_args, **_kwargs):
        self.calls += 1
        raise redis.exceptions.TimeoutError("Timeout reading from socket")


def test_a_direct_hit_is_counted_in_memory_while_the_storage_fails_and_still_limits(
        monkeypatch):
    failing = FailingLimiter()
    monkeypatch.setattr(rate_limits, "limiter", failing)
    identity = f"test-{time.monotonic_ns()}"
    answers = [rate_limits.hit(MESSAGE_RATE, "chat", identity)
               for _ in range(MESSAGE_RATE.amount + 1)]
    assert answers == [True] * MESSAGE_RATE.amount + [False]  # never unlimited
    assert failing.calls == 1  # then paused: no further wait on a Redis that failed
    assert redis_waits.pause.active()
