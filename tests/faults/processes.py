"""Processes for the fault tests: ``crisisline serve`` and ``crisisline worker`` run as a
user runs them, and a ``redis-server`` of the test's own that it may stop, start again on
the same port, or freeze. The shared Redis other tests use is never touched."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Output:
    """A background process's output, read as it comes (a full pipe would stall it)."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        try:
            for line in iter(stream.readline, ""):
                self.lines.append(line)
        except (OSError, ValueError):  # closed as the process was stopped
            pass

    def wait_for(self, needle: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(needle in line for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return False

    def tail(self, count: int = 40) -> str:
        return "".join(self.lines[-count:])


def stop(process: subprocess.Popen, seconds: float = 20) -> None:
    """End a process started in a session of its own, and everything it started."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=seconds)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def port_to_return_to() -> int:
    """A free port below the range the system hands out for outgoing connections, so none
    of them takes it while Redis is away."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            lowest = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        lowest = 32768
    for port in random.sample(range(max(1024, lowest - 12000), lowest), 50):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class PrivateRedis:
    """A ``redis-server`` of the test's own, that it may stop and start on the same port,
    or freeze (SIGSTOP: connections are accepted by the kernel, nothing is ever answered)."""

    def __init__(self, binary: str, folder):
        self.binary, self.folder = binary, folder
        self.port = port_to_return_to()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.answers():
            assert self.process.poll() is None, f"redis-server on port {self.port} exited"
            assert time.monotonic() < deadline, f"redis-server on port {self.port} is silent"
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as link:
                link.sendall(b"PING\r\n")
                return link.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _signal(self, signum: int) -> None:
        # only ever our own redis-server, by its process id
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    @contextmanager
    def frozen(self):
        """Redis hangs (SIGSTOP) for the block, and answers again after it, whatever
        happened in it (SIGCONT): never is it left frozen."""
        self._signal(signal.SIGSTOP)
        try:
            assert not self.answers(), "the private Redis still answers while frozen"
            yield
        finally:
            self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self._signal(signal.SIGCONT)  # a frozen process would not act on SIGTERM
            stop(self.process, seconds=10)
            self.process = None
        assert not listening(self.port), "the private Redis still listens"


@dataclass
class Hotline:
    """``crisisline serve`` and ``crisisline worker`` (with its scheduler), running."""
    url: str
    server: Output
    worker: Output

    def tails(self) -> str:
        return f"worker:\n{self.worker.tail()}\nserver:\n{self.server.tail()}"


@contextmanager
def running_hotline(crisisline, redis_url: str):
    """Serve the hotline on a free loopback port with a worker, both on ``redis_url``;
    both are ended (with everything they started) when the block is left."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"CRISISLINE_REDIS_URL": redis_url, "CRISISLINE_PUBLIC_URL": url}
    with ExitStack() as cleanup:
        worker = crisisline.start("worker", "--concurrency=1", env=env)
        cleanup.callback(stop, worker)
        worker_output = Output(worker)
        server = crisisline.start("serve", "--port", str(port), env=env)
        cleanup.callback(stop, server)
        server_output = Output(server)
        assert worker_output.wait_for("ready", 60), worker_output.tail()
        assert server_output.wait_for("serving", 60), server_output.tail()
        deadline = time.monotonic() + 20
        while not listening(port):  # listening a moment after it says so
            assert time.monotonic() < deadline, server_output.tail()
            time.sleep(0.1)
        yield Hotline(url, server_output, worker_output)
