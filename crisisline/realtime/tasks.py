"""Keeping the console event log short: a console catches up over hours, not weeks."""
from __future__ import annotations

from celery import shared_task
from sqlalchemy import delete

from crisisline.database import db, utcnow
from crisisline.realtime.console import CATCH_UP_WINDOW
from crisisline.realtime.models import ConsoleEvent


@shared_task
def prune_console_events() -> int:
    """Delete events older than any console could still ask for."""
    result = db.execute(delete(ConsoleEvent).where(
        ConsoleEvent.created_at < utcnow() - 2 * CATCH_UP_WINDOW))
    db.commit()
    return result.rowcount
