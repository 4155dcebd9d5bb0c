"""Rate limits counted outside a view's decorators (``limiter.limiter.hit``).

Flask-Limiter's decorators fall back to counting in memory when Redis fails (see
``create_app``); a direct hit on its limiter does not: it raises while Redis is down, or
waits ``redis_waits.COMMAND_TIMEOUT`` while it is frozen. :func:`hit` counts in this
process's memory instead (the same limit, per process: never unlimited), also while Redis
is paused after a failure (``redis_waits.pause``), so a frozen Redis does not slow every
message.
"""
from __future__ import annotations

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
