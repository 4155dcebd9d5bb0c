"""Celery, built from the same application factory.

With ``CRISISLINE_REDIS_URL`` the broker is Redis; without it, kombu's SQLAlchemy
transport on a SQLite file in the instance folder, so the embedded default needs no server.
Tasks run inside an application context and take ids, never ORM objects.
"""
from __future__ import annotations

from datetime import timedelta

import logging
import threading

from celery import Celery, Task, bootsteps
from celery.signals import worker_process_init
from flask import Flask, g
from kombu.exceptions import OperationalError

from crisisline import redis_waits

log = logging.getLogger(__name__)

# Sending a task to a frozen or unreachable Redis must not hang the webhook that sends it
# after its commit (see ``crisisline.redis_waits``). One publish waits at most
# COMMAND_TIMEOUT for Redis's answer and is retried once, at once, on a fresh connection
# (whose opening waits CONNECT_TIMEOUT at most, and its first PING COMMAND_TIMEOUT): a
# connection Redis dropped on a restart is thus replaced without losing the task, and a
# Redis that does not answer costs a sender three seconds at worst, once per pause.
# (Celery's default retries three times, and redis-py's client would wait forever.)
BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": redis_waits.CONNECT_TIMEOUT,
    "socket_timeout": redis_waits.COMMAND_TIMEOUT,  # not for the worker's BRPOP: kombu
    # waits for that in its event loop, and drops a BRPOP connection whose answer is
    # overdue by its own health check
}
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                        "interval_max": 0.2}


def periodic_tasks(app: Flask) -> dict:
    """The scheduler's work (``crisisline worker`` runs it unless ``--no-beat``). Deadlines
    are not here: every worker polls them (:class:`DeadlinePoller`)."""
    return {
        "keep-the-queue-moving": {"task": "hotline.tasks.keep_the_queue_moving",
                                  "schedule": timedelta(seconds=2)},
        "alert-untaken-school-reports": {"task": "schoolnet.tasks.alert_untaken_reports",
                                         "schedule": timedelta(seconds=30)},
        "alert-missing-routine-reports": {
            "task": "schoolnet.tasks.alert_missing_routine_reports",
            "schedule": timedelta(minutes=10)},
        # a key period starts on the school's date: a few minutes late is on time
        "start-key-periods": {"task": "schoolnet.tasks.start_key_periods",
                              "schedule": timedelta(minutes=5)},
        "alert-overdue-screening-work": {
            "task": "schoolnet.tasks.alert_overdue_screening_work",
            "schedule": timedelta(minutes=5)},
        "chain-audit-queue": {"task": "crisisline.audit.tasks.chain_audit_queue",
                              "schedule": timedelta(seconds=5)},
        "verify-audit-chain": {"task": "crisisline.audit.tasks.verify_audit_chain",
                               "schedule": timedelta(hours=1)},
        "prune-console-events": {"task": "crisisline.realtime.tasks.prune_console_events",
                                 "schedule": timedelta(hours=1)},
    }


class DeadlinePoller(bootsteps.StartStopStep):
    """Every worker fires due deadlines itself, each interval, in a thread of its own.

    Deadlines must fire while any worker lives, and while the broker is down or slow:
    with the poll on the one scheduler, a crash of its worker stopped every deadline until
    it was restarted, and a poll sent as a task waited behind the queue's backlog. The
    polls of several workers never fire one deadline twice
    (``casework.deadlines.fire_due``). The texts they raise still go through the broker;
    a lost send is swept up by a later poll."""

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.stopping = threading.Event()

    def start(self, worker):
        self.stopping.clear()
        threading.Thread(target=self.poll, args=(worker.app,), daemon=True,
                         name="deadline-poller").start()

    def stop(self, worker):
        self.stopping.set()

    def poll(self, celery: Celery) -> None:
        fire_due_deadlines = celery.tasks["casework.tasks.fire_due_deadlines"]
        while not self.stopping.wait(celery.conf.deadline_poll_seconds):
            try:
                fire_due_deadlines()  # run here, in its application context, not sent
            except Exception:  # noqa: BLE001  (logged; the next poll tries again)
                log.exception("deadline poll failed")


def _fresh_connections_after_fork(app: Flask):
    def dispose(**_kwargs):
        # a pool process must not share the parent's database connections (the poller's)
        app.extensions["crisisline.engine"].dispose(close=False)
    return dispose


def create_celery(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():  # its own session, removed with the context
                g.audit_actor = f"system:worker:{self.name}"
                return self.run(*args, **kwargs)

        def apply_async(self, *args, **kwargs):
            """Send the task; while the broker is paused after a failed send, fail at once
            instead of waiting on it again. Either way the caller gets kombu's
            OperationalError, as for a broker that is down; what depends on the task is
            swept up (the tick routes, the deadline poll resends alert texts...)."""
            if self.app.conf.task_always_eager or \
                    not self.app.conf.get("pause_broker_sends_after_failure"):
                return super().apply_async(*args, **kwargs)
            if redis_waits.pause.active():
                raise OperationalError(f"{self.name} not sent: the broker did not answer a "
                                       "moment ago")
            try:
                return super().apply_async(*args, **kwargs)
            except OperationalError as error:
                redis_waits.pause.failed(f"sending {self.name}", error)
                raise

    settings = app.extensions["crisisline.settings"]
    broker = settings.redis_url or f"sqla+sqlite:///{settings.instance_path / 'broker.sqlite'}"
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=broker,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,  # a task lost with its worker is delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_always_eager=app.config.get("CELERY_ALWAYS_EAGER", False),
        task_eager_propagates=True,
        beat_schedule=periodic_tasks(app),
        deadline_poll_seconds=app.extensions["crisisline.policy"].deadline_poll_seconds,
        beat_schedule_filename=str(settings.instance_path / "celerybeat-schedule"),
        timezone="UTC",
        imports=("crisisline.audit.tasks", "crisisline.realtime.tasks", "casework.tasks",
                 "hotline.tasks", "schoolnet.tasks"),
    )
    if settings.redis_url:  # bounded waits on Redis (above); the embedded broker is a file
        celery.conf.update(
            broker_transport_options=dict(BROKER_TRANSPORT_OPTIONS),
            # the same bound, for code that opens broker connections with this timeout
            broker_connection_timeout=redis_waits.CONNECT_TIMEOUT,
            task_publish_retry_policy=dict(PUBLISH_RETRY_POLICY),
            pause_broker_sends_after_failure=True,
        )
    celery.steps["worker"].add(DeadlinePoller)
    worker_process_init.connect(_fresh_connections_after_fork(app), weak=False)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
