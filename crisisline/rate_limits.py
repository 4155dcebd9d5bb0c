"""Rate limits counted outside a view's decorators (``limiter.limiter.hit``), and waits
that grow with each failure (:class:`GrowingWait`).

Flask-Limiter's decorators fall back to counting in memory when Redis fails (see
``create_app``); a direct hit on its limiter does not: it raises while Redis is down, or
waits ``redis_waits.COMMAND_TIMEOUT`` while it is frozen. :func:`hit` counts in this
process's memory instead (the same limit, per process: never unlimited), also while Redis
is paused after a failure (``redis_waits.pause``), so a frozen Redis does not slow every
message.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from crisisline.extensions import limiter
from crisisline import redis_waits

_here = FixedWindowRateLimiter(MemoryStorage())  # Flask-Limiter's default strategy


def hit(item: RateLimitItem, *identifiers: str) -> bool:
    """Count one hit of ``item`` for ``identifiers``: False once over the limit."""
    if not redis_waits.pause.active():
        try:
            return limiter.limiter.hit(item, *identifiers)
        except Exception as error:  # noqa: BLE001  (the storage failed: count here)
            redis_waits.pause.failed("counting a rate limit", error)
    return _here.hit(item, *identifiers)


def _storage_call(method: str, *args):
    """A call on the limiter's storage (Redis when configured, so every process shares
    it), or on this process's memory while Redis fails, as :func:`hit` does."""
    if not redis_waits.pause.active():
        try:
            return getattr(limiter.storage, method)(*args)
        except Exception as error:  # noqa: BLE001  (the storage failed: count here)
            redis_waits.pause.failed("counting a growing wait", error)
    return getattr(_here.storage, method)(*args)


@dataclass(frozen=True)
class GrowingWait:
    """After ``free`` failures of one key, each failure makes the key wait before its next
    try: ``first`` seconds, then twice as long each time, at most ``cap``. Failures are
    forgotten ``memory`` seconds after the first one, or by :meth:`forget`."""

    name: str
    free: int
    first: int
    cap: int
    memory: int

    def remaining(self, key: str) -> int:
        """Whole seconds before ``key`` may try again (0: it may now)."""
        wait_key = f"{self.name}/wait/{key}"
        if not _storage_call("get", wait_key):
            return 0
        return max(1, math.ceil(_storage_call("get_expiry", wait_key) - time.time()))

    def failed(self, key: str) -> int:
        """Count a failure of ``key``; the seconds it must now wait (0 while still free)."""
        failures = _storage_call("incr", f"{self.name}/failures/{key}", self.memory)
        if failures < self.free:
            return 0
        wait = min(self.first * 2 ** min(failures - self.free, 32), self.cap)
        wait_key = f"{self.name}/wait/{key}"
        _storage_call("clear", wait_key)
        _storage_call("incr", wait_key, wait)
        return wait

    def forget(self, key: str) -> None:
        """A success: ``key``'s earlier failures no longer count."""
        for part in ("failures", "wait"):
            _storage_call("clear", f"{self.name}/{part}/{key}")
