"""How long a process waits on Redis, and not waiting on it again and again.

A stopped Redis refuses connections at once, but a frozen or unreachable one (a hung
process, a failover, a network dropping packets) accepts them, or keeps an open one, and
never answers: a client without socket timeouts then waits forever, and a webhook with it,
until Twilio gives up on the call. So every connection Crisisline makes to Redis (Celery's
broker, the Socket.IO message queue, the rate limiter's counts) has bounded waits.

A bound on one command is not yet a bound on one request: a webhook sends several things
through Redis after its commit (a routing task, console events), and a send may be
retried. So once a send to Redis failed, the process sends nothing more to it for
:data:`PAUSE_AFTER_FAILURE` seconds (:data:`pause`, one for all uses, as they share the one
Redis): the first request after Redis hangs waits a few seconds at most, the next ones not
at all. Nothing that matters depends on those sends alone: the 2 s tick routes the queue
and resends pending text replies, the event log relays console events to every web
process, the deadline poll resends alert texts, and rate limits are counted in memory.
"""
from __future__ import annotations

import logging
import socket
import threading
import time

log = logging.getLogger("crisisline")

# Opening a TCP connection to Redis on the same network takes well under a millisecond;
# a second allows for a busy host, and an unreachable Redis costs no more than that.
CONNECT_TIMEOUT = 1.0
# Each command Crisisline sends (PUBLISH, LPUSH, INCR, EVALSHA, PING) is answered by a
# healthy Redis in well under a millisecond, and even a fork for a snapshot of a big data
# set stalls it for far less than a second; a Redis that has not answered in a second is
# treated as gone. (Blocking reads that wait for messages on purpose, the subscriptions of
# the Socket.IO queue and Celery's, do not use it: see the callers.)
COMMAND_TIMEOUT = 1.0
# After a send failed, further sends of that kind are skipped for this long, so requests
# do not each wait COMMAND_TIMEOUT on a Redis known not to answer; short, so a Redis that
# is back is used again within seconds (whatever was skipped meanwhile is swept up).
PAUSE_AFTER_FAILURE = 5.0


def client_options() -> dict:
    """redis-py connection options for commands that expect an answer at once."""
    return {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": COMMAND_TIMEOUT}


def listener_options() -> dict:
    """redis-py connection options for a subscription, which waits for messages as long as
    none comes and so has no read timeout; TCP keepalives notice a Redis that vanished
    without closing the connection (host gone, network cut) within about half a minute,
    so the subscription is made again instead of waiting on a dead socket forever."""
    options: dict = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_keepalive": True}
    probes = {"TCP_KEEPIDLE": 15, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}  # Linux has all three
    if all(hasattr(socket, name) for name in probes):
        options["socket_keepalive_options"] = {getattr(socket, name): value
                                               for name, value in probes.items()}
    return options


class Pause:
    """Send nothing to Redis for :data:`PAUSE_AFTER_FAILURE` seconds after a send failed.

    Per process and thread-safe; only the failure that starts a pause is logged, so an
    outage leaves one warning every few seconds, not one per request."""

    def __init__(self, seconds: float = PAUSE_AFTER_FAILURE):
        self.seconds = seconds
        self._until = 0.0
        self._lock = threading.Lock()

    def active(self) -> bool:
        return time.monotonic() < self._until

    def failed(self, what: str, error: BaseException) -> None:
        with self._lock:
            first = not self.active()
            self._until = time.monotonic() + self.seconds
        if first:
            log.warning("Redis failed %s (%s: %s); sending nothing more to it for %.0f s",
                        what, type(error).__name__, error, self.seconds)

    def reset(self) -> None:
        with self._lock:
            self._until = 0.0


pause = Pause()  # this process's, for every use of Redis that waits on its answer
