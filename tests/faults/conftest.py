"""Fixtures of the fault tests."""
from __future__ import annotations

import shutil

import pytest

from tests.faults.processes import PrivateRedis


@pytest.fixture
def private_redis(tmp_path):
    """A running ``redis-server`` of the test's own, on a free loopback port; stopped (and
    never left frozen) at the end of the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH: the outage needs a Redis of its own")
    folder = tmp_path / "redis"
    folder.mkdir()
    redis = PrivateRedis(binary, folder)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()
