"""Celery, built from the same application factory.

With ``CRISISLINE_REDIS_URL`` the broker is Redis; without it, kombu's SQLAlchemy
transport on a SQLite file in the instance folder, so the embedded default needs no server.
Tasks run inside an application context and take ids, never ORM objects.
"""
from __future__ import annotations

from datetime import timedelta

from celery import Celery, Task, bootsteps
from flask import Flask, g
from kombu.exceptions import OperationalError

from crisisline import redis_waits

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
        "chain-audit-queue": {"task": "crisisline.audit.tasks.chain_audit_queue",
                              "schedule": timedelta(seconds=5)},
        "verify-audit-chain": {"task": "crisisline.audit.tasks.verify_audit_chain",
                               "schedule": timedelta(hours=1)},
        "prune-console-events": {"task": "crisisline.realtime.tasks.prune_console_events",
                                 "schedule": timedelta(hours=1)},
    }


class DeadlinePoller(bootsteps.StartStopStep):
    """Every worker asks for a deadline poll each interval, not the scheduler alone.

    Deadlines must fire while any worker lives: with the poll on the one scheduler, a
    crash of its worker would stop every deadline until it was restarted. The polls of
    several workers never fire one deadline twice (``casework.deadlines.fire_due``), and a
    poll request that waited longer than an interval is dropped as stale."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_ref = None

    def start(self, worker):
        seconds = worker.app.conf.deadline_poll_seconds
        self.timer_ref = worker.timer.call_repeatedly(
            seconds, lambda: worker.app.send_task("casework.tasks.fire_due_deadlines",
                                                  expires=seconds),
            priority=10)

    def stop(self, worker):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None


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
                 "hotline.tasks"),
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
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
