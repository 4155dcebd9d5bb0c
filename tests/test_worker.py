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
    sender = Celery(broker=broker, set_as_current=False)  # leave the eager test app current
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


def test_a_deadline_that_fell_due_while_the_worker_was_down_fires_once_after_restart(
        crisisline, cli_database_url):
    """Restarted without the scheduler (``--no-beat``): every worker polls deadlines."""
    import os
    import signal
    from datetime import timedelta

    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from casework.models import Alert, Case, Deadline, DeadlineStatus
    from crisisline.audit.models import AuditEntry
    from crisisline.database import utcnow

    crisisline("init")
    crisisline("seed-demo", "--password", "demo-password-1")
    env = {"CRISISLINE_REDIS_URL": TEST_REDIS_URL} if TEST_REDIS_URL else {}
    worker = crisisline.start("worker", "--concurrency=1", env=env)
    assert "ready" in read_until(worker, "ready")
    os.killpg(worker.pid, signal.SIGKILL)  # a crash of the whole worker, pool and all
    worker.wait(timeout=10)
    worker.stdout.close()

    engine = create_engine(cli_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with Session(engine) as session:
        case = session.scalars(select(Case).where(Case.owner_id.is_not(None))).first()
        due = Deadline(case_id=case.id, kind="responder_on_site",
                       due_at=utcnow() - timedelta(minutes=1))
        session.add(due)
        session.commit()
        deadline_id = due.id

    def fired() -> tuple:
        with Session(engine) as session:
            return (session.get(Deadline, deadline_id).status,
                    session.scalar(select(func.count()).where(
                        AuditEntry.action == "deadline.missed",
                        AuditEntry.object_id == str(deadline_id))),
                    session.scalar(select(func.count()).where(Alert.deadline_id == deadline_id)))

    worker = crisisline.start("worker", "--no-beat", "--concurrency=1", env=env)
    try:
        read_until(worker, "due deadline(s)", seconds=60)
        status, missed, alerts = fired()
        assert status == DeadlineStatus.FIRED and missed == 1 and alerts >= 2
        read_until(worker, "never appears", seconds=5)  # more polls, each a second apart
        assert fired() == (status, missed, alerts)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        worker.stdout.close()
        engine.dispose()


def test_every_scheduled_task_is_a_task_the_worker_knows(app):
    from crisisline.celery_app import periodic_tasks
    celery = app.extensions["celery"]
    celery.loader.import_default_modules()
    scheduled = {entry["task"] for entry in periodic_tasks(app).values()}
    assert scheduled - set(celery.tasks) == set()
