"""Celery, built from the same application factory.

With ``CRISISLINE_REDIS_URL`` the broker is Redis; without it, kombu's SQLAlchemy
transport on a SQLite file in the instance folder, so the embedded default needs no server.
Tasks run inside an application context and take ids, never ORM objects.
"""
from __future__ import annotations

from datetime import timedelta

from celery import Celery, Task
from flask import Flask, g


def periodic_tasks(app: Flask) -> dict:
    poll = app.extensions["crisisline.policy"].deadline_poll_seconds
    return {
        "fire-due-deadlines": {"task": "casework.tasks.fire_due_deadlines",
                               "schedule": timedelta(seconds=poll)},
        "keep-the-queue-moving": {"task": "hotline.tasks.keep_the_queue_moving",
                                  "schedule": timedelta(seconds=2)},
        "chain-audit-queue": {"task": "crisisline.audit.tasks.chain_audit_queue",
                              "schedule": timedelta(seconds=5)},
        "verify-audit-chain": {"task": "crisisline.audit.tasks.verify_audit_chain",
                               "schedule": timedelta(hours=1)},
        "prune-console-events": {"task": "crisisline.realtime.tasks.prune_console_events",
                                 "schedule": timedelta(hours=1)},
    }


def create_celery(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():  # its own session, removed with the context
                g.audit_actor = f"system:worker:{self.name}"
                return self.run(*args, **kwargs)

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
        beat_schedule_filename=str(settings.instance_path / "celerybeat-schedule"),
        timezone="UTC",
        imports=("crisisline.audit.tasks", "crisisline.realtime.tasks", "casework.tasks",
                 "hotline.tasks"),
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
