"""``crisisline demo`` as a newcomer runs it: a short output that ends with the logins."""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

from crisisline.seed import DEMO_USERS

PASSWORD = "demo-pass-for-the-test"
LAST_LINE = f"Password for every demo user: {PASSWORD}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_line(lines: list[str], wanted: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if wanted in lines:
            return True
        time.sleep(0.2)
    return False


def test_the_demo_logs_only_warnings_and_prints_the_logins_last(crisisline):
    port = free_port()
    demo = crisisline.start("demo", "--port", str(port), "--password", PASSWORD)
    lines: list[str] = []  # read as they come, a burst of lines at once too
    reader = threading.Thread(target=lambda: lines.extend(
        line.rstrip("\n") for line in demo.stdout), daemon=True)
    reader.start()
    try:
        assert wait_for_line(lines, LAST_LINE, seconds=240), "\n".join(lines)
        up = len(lines)
        time.sleep(5)  # two queue ticks and several deadline polls go by
        quiet = lines[up:]
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        demo.stdout.close()
    output = "\n".join(lines[:up])
    assert up < 40, output  # it was thousands
    assert f"http://127.0.0.1:{port}" in output and "--port" in output and "--verbose" in output
    logins = lines[up - len(DEMO_USERS) - 2:up]
    assert logins[0] == "Sign in as one of these demo users:"
    assert [line.split()[0] for line in logins[1:-1]] == [user[0] for user in DEMO_USERS]
    assert logins[-1] == LAST_LINE
    assert quiet == []  # nothing after the logins: no ticks, no polls, no requests
    assert " INFO " not in "\n".join(lines) and "Skip binding" not in "\n".join(lines)
    assert lines[-1] == "Crisisline demo stopped."
