"""The Celery worker, built from the same factory, on the embedded broker or on Redis."""
from __future__ import annotations

import selectors
import time

from celery import Celery

from tests.conftest import TEST_REDIS_URL


def read_until(process, needle: str, seconds: float = 60.0) -> str:
    """Collect the process's output until ``needle`` appears or time runs out."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    output, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            output.append(line)
            if needle in line:
                break
    return "".join(output)


def test_a_worker_runs_a_task_sent_through_the_broker(crisisline):
    crisisline("init")
    env = {"CRISISLINE_REDIS_URL": TEST_REDIS_URL} if TEST_REDIS_URL else {}
    broker = TEST_REDIS_URL or f"sqla+sqlite:///{crisisline.instance_path / 'broker.sqlite'}"
    sender = Celery(broker=broker)
    worker = crisisline.start("worker", "--no-beat", "--concurrency=1", env=env)
    try:
        assert "ready" in read_until(worker, "ready")
        sender.send_task("crisisline.audit.tasks.verify_audit_chain")
        output = read_until(worker, "audit chain intact")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        worker.stdout.close()
        sender.close()
    assert "audit chain intact: 0 entries" in output
